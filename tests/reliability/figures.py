# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The reliability figures, summed where pytest prints its summary.

With pytest-xdist the scenarios run in workers, and only tests/conftest.py is loaded where the summary
is printed: each scenario hands its audit over in its teardown report (``user_properties``), and
tests/conftest.py calls ``collect`` and ``summarize``.
"""

from __future__ import annotations

from collections import Counter

FIGURES = Counter()
FIGURES_PROPERTY = "reliability_figures"
ZERO_FIGURES = ("runner tokens lost", "duplicate runners created", "runners left without a recoverable token",
                "secrets found in output", "files left half-written", "secret files not 0600")


def collect(report):
    if "tests/reliability/" not in report.nodeid:
        return
    if report.when == "call":
        FIGURES["scenarios total"] += 1
        FIGURES["scenarios passed"] += int(report.passed)
    elif report.when == "teardown":
        for name, figures in report.user_properties:
            if name == FIGURES_PROPERTY:
                FIGURES.update(figures)


def summarize(terminalreporter):
    if not FIGURES["scenarios total"]:
        return
    terminalreporter.section("reliability figures")
    terminalreporter.write_line(f"scenarios passed: {FIGURES['scenarios passed']} / {FIGURES['scenarios total']}"
                                f" ({FIGURES['fleet audits']} fleet audits, {FIGURES['runs scanned for secrets']} "
                                f"playbook runs and {FIGURES['job events scanned for secrets']} AWX job events scanned "
                                "for secrets)")
    for name in ZERO_FIGURES:
        terminalreporter.write_line(f"{name}: {FIGURES[name]}")
