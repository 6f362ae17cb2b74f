# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kills the process that is about to rename a temporary file over a config.toml in RELIABILITY_CRASH_DIR.

Loaded by every Python process of a play when this directory is on PYTHONPATH: the module writing
config.toml dies between writing its temporary file and the rename, as on a power cut or an OOM kill.
"""

import os
import signal

_CRASH_DIR = os.environ.get("RELIABILITY_CRASH_DIR")
_replace = os.replace


def _replace_or_die(src, dst, *args, **kwargs):
    target = os.fspath(dst)
    if _CRASH_DIR and os.path.basename(target) == "config.toml" and os.path.dirname(target) == _CRASH_DIR:
        os.kill(os.getpid(), signal.SIGKILL)
    return _replace(src, dst, *args, **kwargs)


if _CRASH_DIR:
    os.replace = _replace_or_die
