# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark-only callback: how long each task took across all hosts, slowest first."""

from __future__ import annotations

DOCUMENTATION = r"""
name: task_seconds
type: aggregate
short_description: Write the wall time of each task to a JSON file
description:
  - Writes a list of [seconds, task name], slowest first, to the file named by E(BENCH_TASK_SECONDS).
requirements:
  - the E(BENCH_TASK_SECONDS) environment variable
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_seconds"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("BENCH_TASK_SECONDS")
        self._current = None
        self._started = None
        self._seconds = {}

    def _start(self, name):
        self._stop()
        self._current, self._started = name, time.monotonic()

    def _stop(self):
        if self._current is not None:
            elapsed = time.monotonic() - self._started
            self._seconds[self._current] = self._seconds.get(self._current, 0.0) + elapsed
            self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task.get_name())

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task.get_name())

    def v2_playbook_on_stats(self, stats):
        self._stop()
        if self._path:
            rows = sorted(([round(seconds, 2), name] for name, seconds in self._seconds.items()), reverse=True)
            with open(self._path, "w", encoding="utf-8") as stream:
                json.dump(rows, stream)
