# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The benchmark's quick mode: the API calls playbooks/site.yml costs as hosts, definitions and the runners
GitLab already holds grow. Timings are not asserted, only calls."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

FLEET = REPO_ROOT / "benchmarks" / "fleet.py"
# The preflight: GET /personal_access_tokens/self and GET /version.
CONSTANT = 2


def test_quick_mode_costs_grow_with_definitions_only(tmp_path):
    results = tmp_path / "quick.json"
    proc = subprocess.run([sys.executable, str(FLEET), "--quick", "--families", "role", "--results", str(results)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    points = json.loads(results.read_text(encoding="utf-8"))["points"]
    assert sorted(points) == ["N2-M1-K0", "N2-M2-K0", "N2-M2-K250", "N4-M2-K0"]
    for key in points:
        assert re.search(rf"^\s*{key}\s", proc.stdout, re.MULTILINE), f"{key} missing from the table:\n{proc.stdout}"

    firsts, reruns = {}, {}
    for key, point in points.items():
        m = int(re.search(r"-M(\d+)-", key).group(1))
        first, rerun = point["role"]["first"], point["role"]["rerun"]
        assert (first["rc"], rerun["rc"]) == (0, 0), key
        # First converge: at most 5 calls per definition plus the preflight: owner, list, create, one check of the
        # new token with a host's system id (GitLab lists a manager at once) and a second listing for a twin
        # another run may have created at the same time.
        assert first["routes"].get("POST /user/runners") == m, (key, first["routes"])
        assert first["routes"].get("POST /runners/verify") == m, (key, first["routes"])
        assert first["writes"] == m, (key, first["routes"])
        assert first["calls"] <= 5 * m + CONSTANT, (key, first["routes"])
        # Rerun: nothing changes, nothing is written, at most 2 calls per distinct token plus the preflight.
        assert rerun["changed"] == 0, key
        assert rerun["writes"] == 0, (key, rerun["routes"])
        assert rerun["calls"] <= 2 * m + CONSTANT, (key, rerun["routes"])
        assert rerun["routes"].get("POST /runners/verify") == m, (key, rerun["routes"])
        firsts[key], reruns[key] = first["routes"], rerun["routes"]

    # Twice the hosts, or 250 more runners in GitLab, cost neither run one call more.
    assert firsts["N4-M2-K0"] == firsts["N2-M2-K0"] == firsts["N2-M2-K250"]
    assert reruns["N4-M2-K0"] == reruns["N2-M2-K0"] == reruns["N2-M2-K250"]
