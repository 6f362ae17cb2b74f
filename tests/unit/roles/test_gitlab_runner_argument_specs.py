# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The role's public variables: defaults/main.yml and meta/argument_specs.yml describe the same set."""

from __future__ import annotations

import yaml

from tests.conftest import REPO_ROOT

ROLE = REPO_ROOT / "roles" / "gitlab_runner"


def load(relative):
    return yaml.safe_load((ROLE / relative).read_text(encoding="utf-8"))


def test_every_default_is_specified_and_every_option_has_a_default():
    defaults = load("defaults/main.yml")
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(options)


def test_literal_defaults_agree():
    defaults = load("defaults/main.yml")
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        if "default" in spec:
            assert defaults[name] == spec["default"], name
        else:
            # Only defaults computed from other variables or the environment go undeclared in the spec.
            assert isinstance(defaults[name], str) and "{{" in defaults[name], name


def test_public_variables_are_prefixed_and_documented():
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        assert name.startswith("gitlab_runner_"), name
        assert spec.get("description"), name
