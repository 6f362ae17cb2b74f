# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The execution environment: ``ansible-builder create`` writes a build context that installs the built
collection and its Python requirements, and ``ansible-builder introspect`` reads those requirements from the
installed package the way the image build does."""

from __future__ import annotations

import os
import re
import shutil

import pytest
import yaml
from packaging.requirements import Requirement

from tests.conftest import REPO_ROOT
from tests.packaging._collection import BIN, TARBALL_NAME, run, tool_env

DEFINITION = yaml.safe_load((REPO_ROOT / "execution-environment.yml").read_text(encoding="utf-8"))


def requirements(text):
    """``{name: specifier}`` of a pip requirements text, comments and blank lines left out."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            found[requirement.name.lower()] = str(requirement.specifier)
    return found


def make_variable(name):
    """A variable's value as the Makefile sets it (one line, ``NAME = value``)."""
    for line in (REPO_ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        if re.match(rf"^{name}\s*[:?]?=", line):
            return line.split("=", 1)[1].strip()
    raise AssertionError(f"{name} is not set in the Makefile")


# What `make ee` passes to `ansible-builder create`, so the test builds the context the same way.
CREATE_OPTIONS = make_variable("EE_CREATE_OPTIONS").split()
COLLECTION_REQUIREMENTS = requirements((REPO_ROOT / "requirements.txt").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def context(tarball, tmp_path_factory):
    """The build context, made from the definition and the built tarball where the definition expects it."""
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        shutil.copy2(REPO_ROOT / name, work / name)
    (work / "dist").mkdir()
    shutil.copy2(tarball, work / "dist" / TARBALL_NAME)
    # A machine with docker and without podman: the context must not depend on which runtime is found.
    stubs = work / "bin"
    stubs.mkdir()
    (stubs / "docker").write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    (stubs / "docker").chmod(0o755)
    run([BIN / "ansible-builder", "create", *CREATE_OPTIONS, "--file", work / "execution-environment.yml",
         "--context", work / "context"], cwd=work, env={**tool_env(), "PATH": f"{stubs}{os.pathsep}{BIN}"})
    return work / "context"


def test_our_python_requirements_are_python_gitlab_and_tomlkit():
    assert sorted(COLLECTION_REQUIREMENTS) == ["python-gitlab", "tomlkit"]


def test_collection_metadata_points_ansible_builder_at_our_requirement_files():
    meta = yaml.safe_load((REPO_ROOT / "meta" / "execution-environment.yml").read_text(encoding="utf-8"))
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    for name in meta["dependencies"].values():
        assert (REPO_ROOT / name).is_file(), name


def test_build_context_names_our_python_requirements(context):
    found = requirements((context / "_build" / "requirements.txt").read_text(encoding="utf-8"))
    for name, specifier in COLLECTION_REQUIREMENTS.items():
        assert found.get(name) == specifier, f"{name}{specifier} is not in the build context"


def test_build_context_holds_our_system_requirements(context):
    assert (context / "_build" / "bindep.txt").read_text(encoding="utf-8") == \
        (REPO_ROOT / "bindep.txt").read_text(encoding="utf-8")


def test_build_context_installs_the_tarball_of_this_version(context, tarball):
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    assert galaxy["collections"] == [{"name": f"collections/{TARBALL_NAME}", "type": "file"}]
    assert (context / "_build" / "collections" / TARBALL_NAME).read_bytes() == tarball.read_bytes()
    assert not (context / "Dockerfile").exists()
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile


def test_definition_names_ansible_core_the_collection_supports():
    runtime = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    core = Requirement(DEFINITION["dependencies"]["ansible_core"]["package_pip"])
    assert core.name == "ansible-core"
    assert str(core.specifier) == runtime["requires_ansible"]


def test_introspection_of_the_installed_package_finds_our_requirements(collections_path):
    output = run([BIN / "ansible-builder", "introspect", "--sanitize", collections_path]).stdout
    data = yaml.safe_load(output)
    python = [line for line in data["python"] if line.endswith("# from collection runnerops.gitlab")]
    assert requirements("\n".join(line.split("#", 1)[0] for line in python)) == COLLECTION_REQUIREMENTS
    system = [line.split("#", 1)[0].strip() for line in data["system"]
              if line.endswith("# from collection runnerops.gitlab")]
    declared = [line.strip() for line in (REPO_ROOT / "bindep.txt").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    assert system == declared
