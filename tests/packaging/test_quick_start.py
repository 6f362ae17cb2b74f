# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The README's Quick start, followed literally: on a fresh copy of the collection's files, the commands of its
simulator block install the built tarball, copy ``examples/``, prepare the stand-in hosts and converge them
against the GitLab API simulator started with the seed the README names; the second run changes nothing."""

from __future__ import annotations

import re
import shutil
import subprocess

import tomllib

from tests.conftest import REPO_ROOT
from tests.gitlab_sim.process import SimProcess
from tests.packaging._collection import TARBALL_NAME, collection_files, tool_env

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
SIMULATOR_URL = "http://127.0.0.1:8080"


def quick_start():
    return README[README.index("## Quick start"):README.index("## Contents")]


def shell_blocks(text):
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def recaps(output):
    """``[{host: changed}]``, one per PLAY RECAP in ``output``."""
    found = []
    for block in output.split("PLAY RECAP")[1:]:
        found.append({match.group(1): int(match.group(2))
                      for match in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", block, flags=re.M)})
    return found


def fresh_copy(root):
    for relative in collection_files():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, target)
    return root


def test_the_quick_start_converges_the_example_and_a_rerun_changes_nothing(tarball, tmp_path):
    (simulator, steps) = [block for block in shell_blocks(quick_start()) if "gitlab_sim" in block or "examples" in block]
    seed = re.search(r"--seed (\S+)", simulator).group(1)
    assert f"ansible-galaxy collection install {TARBALL_NAME}" in steps
    assert SIMULATOR_URL in simulator or "--port 8080" in simulator
    checkout = fresh_copy(tmp_path / "checkout")
    shutil.copy2(tarball, checkout / TARBALL_NAME)
    env = tool_env(collections_path=tmp_path / "collections", home=tmp_path / "ansible-home")
    with SimProcess(checkout / seed) as sim:
        script = steps.replace(SIMULATOR_URL, sim.url)
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=checkout, env=env, capture_output=True,
                              text=True, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        runners = sorted(runner["description"] for runner in sim.state()["runners"])
    assert (tmp_path / "collections" / "ansible_collections" / "runnerops" / "gitlab" / "MANIFEST.json").is_file()
    prepare, first, second = recaps(output)
    assert sorted(prepare) == ["runner-01", "runner-02"]
    assert all(changed > 0 for changed in first.values()), output
    assert second == {"runner-01": 0, "runner-02": 0}, output
    assert runners == ["app-build-runner-01", "app-build-runner-02", "platform-docker"]
    for host in ("runner-01", "runner-02"):
        data = tomllib.loads((checkout / "my-fleet" / "hosts" / host / "config.toml").read_text(encoding="utf-8"))
        assert sorted(entry["name"] for entry in data["runners"]) == [f"app-build-{host}", "platform-docker"]
    assert "glrt-" not in output


def test_every_quick_start_install_names_this_version():
    assert TARBALL_NAME in quick_start()
    assert "ansible-galaxy collection install runnerops.gitlab\n" in quick_start()
