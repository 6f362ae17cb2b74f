# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What loading the collection's filters pulls in.

Every Ansible worker that templates one of the collection's filters loads all of its filter files, once per task
and host. The HTTP code of the modules (``ansible.module_utils.urls`` and what it imports) took 40 ms of that per
worker when a filter imported it through a helper, which is why filters import no module that speaks HTTP.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import COLLECTIONS_ROOT

FILTERS = sorted(path.stem for path in (Path(__file__).resolve().parents[4] / "plugins" / "filter").glob("*.py"))
HEAVY = ("ansible.module_utils.urls", "requests", "gitlab")


def test_loading_every_filter_imports_no_http_code():
    program = (
        "import sys, importlib\n"
        f"for name in {FILTERS!r}:\n"
        "    importlib.import_module('ansible_collections.runnerops.gitlab.plugins.filter.' + name)\n"
        f"print(sorted(module for module in {HEAVY!r} if module in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(COLLECTIONS_ROOT), "PATH": "/usr/bin:/bin"})
    assert FILTERS and loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
