# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run a module's ``main()`` with arguments and return the JSON it printed, as Ansible would see it."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils import _internal as module_internal
from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run_module(capsys, monkeypatch):
    # A module runs in a process of its own; once a test in this process imported controller code (a filter
    # plugin), ansible-core would send the module's warnings to the controller's display instead of its result.
    monkeypatch.setattr(module_internal, "is_controller", False)

    def run(module, args, check_mode=False, diff=False):
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exited:
                module.main()
        out = capsys.readouterr().out
        result = json.loads(out)
        result["_exit_code"] = exited.value.code
        return result

    return run
