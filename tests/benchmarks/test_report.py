# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a full sweep concludes: each target met or not from the sweep's own figures, the README's sections, the
picture."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from benchmarks import report


def run(wall, calls=12, writes=0, pss=None):
    return {"wall_s": wall, "calls": calls, "writes": writes, "peak_tree_pss_mb": pss, "rc": 0}


def sweep(role_rerun_500=408.0, pss_500=330.0, peer_first=124):
    """A full sweep's points: the role over N at M=5, the M axis and K=2000 at N=10, the peer at N=10."""
    points = {}
    for n, template in ((10, 8.0), (50, 34.0), (200, 136.0), (500, 340.0)):
        role_rerun = role_rerun_500 if n == 500 else template * 1.2
        pss = pss_500 if n == 500 else n * 0.7
        points[report.at(n, 5, 0)] = {
            "role": {"first": run(template * 1.3, calls=27), "rerun": run(role_rerun, pss=pss)},
            "template": {"first": run(template, calls=0), "rerun": run(template, calls=0)},
        }
    for m in (1, 20):
        points[report.at(10, m, 0)] = {"role": {"first": run(9.0, calls=2 + 5 * m), "rerun": run(10.0, calls=2 + 2 * m)},
                                       "template": {"first": run(8.0, calls=0), "rerun": run(8.0, calls=0)},
                                       "peer": {"first": run(4.0, calls=5 * m), "rerun": run(4.0, calls=5 * m)}}
    points[report.at(10, 5, 2000)] = {
        "role": {"first": run(10.0, calls=27), "rerun": run(9.0)},
        "template": {"first": run(8.0, calls=0), "rerun": run(8.0, calls=0)},
        "module": {"first": run(4.0), "rerun": run(4.0)},
        "peer": {"first": run(5.0, calls=peer_first), "rerun": run(5.0, calls=peer_first + 1)}}
    return {"mode": "full", "points": points, "environment": {"cpus": 2}}


def by_target(rows, words):
    return next(row for row in rows if words in row["target"])


def test_a_sweep_within_every_target_says_met():
    rows = report.targets(sweep())
    assert all(row["met"] is True for row in rows), rows
    assert by_target(rows, "1.3x")["result"] == "N=50 1.20x, N=200 1.20x, N=500 1.20x"
    assert by_target(rows, "Peak memory")["result"].startswith("7 MB at N=10, 35 MB at N=50, 140 MB at N=200, 330 MB")


@pytest.mark.parametrize("change, words", [
    ({"role_rerun_500": 460.0}, "1.3x the template floor from N=50 up"),  # 1.35x at N=500
    ({"role_rerun_500": 380.0}, None),
    ({"pss_500": 600.0}, "Peak memory"),  # more than 500/200 times the memory at N=200
    ({"peer_first": 100}, "10x fewer"),
])
def test_a_target_missed_says_not_met(change, words):
    rows = report.targets(sweep(**change))
    missed = [row["target"] for row in rows if row["met"] is False]
    assert missed == ([] if words is None else [by_target(rows, words)["target"]]), rows


def test_per_host_cost_that_grows_is_not_flat():
    # 0.816 s per host at N=200, 20% more at N=500.
    row = by_target(report.targets(sweep(role_rerun_500=0.816 * 1.2 * 500)), "Per-host cost flat")
    assert row["met"] is False and "rerun" in row["result"] and "+20%" in row["result"]


def test_an_unmeasured_point_is_never_met():
    data = sweep()
    del data["points"][report.at(500, 5, 0)]["role"]
    rows = report.targets(data)
    assert by_target(rows, "from N=50 up")["met"] is None
    assert "not measured" in by_target(rows, "from N=50 up")["result"]


def test_the_readme_sections_are_replaced_and_the_rest_kept(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n<!-- bench:targets -->\nold\n<!-- /bench:targets -->\n\nProse stays.\n\n"
                      "<!-- bench:figures -->\n<!-- /bench:figures -->\n"
                      "<!-- bench:steps -->\n<!-- /bench:steps -->\n", encoding="utf-8")
    monkeypatch.setattr(report, "README", readme)
    results = tmp_path / "results" / "full.json"
    results.parent.mkdir()
    data = sweep()
    data["points"][report.at(500, 5, 0)]["role"]["rerun"]["tasks"] = [
        [200.0, "runnerops.gitlab.gitlab_runner : Write config.toml"], [190.0, "x : Read config.toml"],
        [1.0, "x : Check once"], [0.5, "x : Report"]]
    data["points"][report.at(500, 5, 0)]["template"]["rerun"]["tasks"] = [[170.0, "Write config.toml"]]
    results.write_text(json.dumps(data), encoding="utf-8")
    rows, drawn = report.conclude(results, "the table")
    text = readme.read_text(encoding="utf-8")
    assert "old" not in text and "Prose stays." in text and text.startswith("# Title")
    assert report.targets_markdown(rows) in text and "```\nthe table\n```" in text
    assert "](results/full.svg)" in text
    assert "| Write config.toml | 200.0 | 400 ms | 49% |" in text and "| Read config.toml | 190.0 | 380 ms |" in text
    assert "| 2 other steps, each under 0.5% | 1.5 |" in text and "write config.toml 170 s" in text
    assert json.loads(results.read_text(encoding="utf-8"))["targets"] == rows
    svg = ET.parse(drawn).getroot()
    lines = [element for element in svg.iter() if element.tag.endswith("polyline")]
    # Role and template, first run and rerun, over N; role and peer, first run and rerun, over M.
    assert len(lines) >= 8
    labels = {element.text for element in svg.iter() if element.tag.endswith("text")}
    assert {"role, no-op rerun", "template floor, rerun", "community.general, first run", "500"} <= labels


def test_a_readme_without_the_sections_is_refused(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n", encoding="utf-8")
    monkeypatch.setattr(report, "README", readme)
    with pytest.raises(SystemExit, match="bench:targets"):
        report.update_readme(sweep() | {"targets": []}, "", tmp_path / "results" / "full.svg")
