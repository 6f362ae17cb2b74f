# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runner manager's identity on a host: the system id gitlab-runner keeps beside config.toml."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import string

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._files import atomic_write, check_reachable

SYSTEM_ID_FILE = ".runner_system_id"
# The order denisbrodbeck/machineid (used by gitlab-runner) reads them in.
MACHINE_ID_PATHS = ("/var/lib/dbus/machine-id", "/etc/machine-id")
SYSTEM_ID_PATTERN = re.compile(r"^[sr]_[0-9a-zA-Z]{12}$")


def system_id_path(config_path):
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), SYSTEM_ID_FILE)


def read_system_id_file(config_path):
    """The id in ``.runner_system_id`` beside config.toml, or None when there is none (missing or empty).

    A file gitlab-runner would not accept fails: the running gitlab-runner keeps the id it read at its start,
    while a new id would register another runner manager in GitLab.
    """
    path = system_id_path(config_path)
    check_reachable(path)
    try:
        with open(path, "rb") as stream:
            text = stream.read(4096).decode("utf-8", "replace").strip()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise RunnerOpsError(f"Reading {path}", "it is a directory, not the file gitlab-runner keeps its system "
                             "id in.", fix=f"remove the directory {path}; gitlab-runner writes the file on its next "
                             "start.") from exc
    except OSError as exc:
        raise RunnerOpsError(f"Reading {path}", f"{exc.strerror}.",
                             fix="run the module as a user that can read the gitlab-runner configuration "
                             "directory (become: true).") from exc
    if text and not SYSTEM_ID_PATTERN.match(text):
        raise RunnerOpsError(
            f"Reading {path}",
            f"it holds {len(text)} characters that are not a runner system id (s_ or r_ and 12 letters or digits), "
            "so this host's runner manager cannot be told: the running gitlab-runner reports the id it read at its "
            "start, and a new id would register another manager in GitLab.",
            fix="write back the system id GitLab lists for this host's runner manager (gitlab-runner logs it at "
                "start as system_id), or delete the file so gitlab-runner picks a new one on its next start.")
    return text or None


def read_machine_id(paths=None):
    for path in MACHINE_ID_PATHS if paths is None else paths:
        try:
            with open(path, "rb") as stream:
                machine_id = stream.read(4096).decode("utf-8", "replace").strip()
        except OSError:
            continue
        if machine_id:
            return machine_id
    return None


def generated_system_id(machine_id_paths=None):
    """The ``s_`` id gitlab-runner derives from the host's machine id, or None without a machine id."""
    machine_id = read_machine_id(machine_id_paths)
    if not machine_id:
        return None
    digest = hmac.new(machine_id.encode("utf-8"), b"gitlab-runner", hashlib.sha256).hexdigest()
    return "s_" + digest[:12]


def random_system_id():
    """What gitlab-runner falls back to on a host without a machine id."""
    alphabet = string.ascii_letters + string.digits
    return "r_" + "".join(secrets.choice(alphabet) for _position in range(12))


def system_identity(config_path, machine_id_paths=None):
    """``(system_id, source)``: source is ``file``, ``generated`` or None when neither is available."""
    from_file = read_system_id_file(config_path)
    if from_file:
        return from_file, "file"
    generated = generated_system_id(machine_id_paths)
    if generated:
        return generated, "generated"
    return None, None


def write_system_id(config_path, system_id):
    """Write ``.runner_system_id`` as gitlab-runner does (no newline, 0600), owned like config.toml."""
    atomic_write(system_id_path(config_path), system_id.encode("ascii"), owner_from=config_path)
