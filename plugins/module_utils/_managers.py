# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which runner managers are live hosts, as GitLab sees them (``GET /runners/:id/managers``).

A manager is a host that used the runner's token; GitLab records its system id and when it last made
contact. One that made contact recently and belongs to no host of a run is a live host that run cannot
reach: resetting the runner's token would cut it off.
"""

from __future__ import annotations

import datetime

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import UTC, read_time

# GitLab itself shows a runner as online when it made contact within the last two hours.
LIVE_WINDOW = 7200
# A run that creates a runner claims it within seconds: it checks the new token with a host's system id right
# after the create, and GitLab lists that host as a manager. A runner no host has used for longer than this is an
# orphan (a create whose answer was lost and that GitLab committed late, a run that stopped at once), which the
# next run adopts with a reset; a younger one may be another run's, handing its token out right now.
CLAIM_WINDOW = 300


def seconds(value, option, action):
    """``value`` as a whole number of seconds (0 or more); fails naming ``option`` and the fix."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise RunnerOpsError(action, f"{option} must be a number of seconds, got {value!r}.",
                             fix=f"set {option} to a whole number of seconds (0 or more).")
    return number


def is_recent(text, now, window):
    moment = read_time(text)
    return moment is not None and (now - moment).total_seconds() <= window


def live_managers(managers, run_system_ids, now=None, window=LIVE_WINDOW):
    """The managers that made contact within ``window`` seconds and whose system id no host of the run has.

    ``managers`` are items of ``GET /runners/:id/managers`` (or of ``gitlab_runner_info``'s ``managers``).
    """
    now = now or datetime.datetime.now(UTC)
    ours = set(system_id for system_id in run_system_ids or () if system_id)
    return [manager for manager in managers or ()
            if isinstance(manager, dict) and manager.get("system_id") not in ours
            and is_recent(manager.get("contacted_at"), now, window)]


def describe_manager(manager):
    """One manager for a message: system id, address, version and last contact (no secret in any of them)."""
    details = []
    if manager.get("ip_address"):
        details.append(f"IP address {manager['ip_address']}")
    if manager.get("version"):
        details.append(f"version {manager['version']}")
    details.append(f"last contact {manager.get('contacted_at') or 'never'}")
    return f"{manager.get('system_id') or '(no system id)'} ({', '.join(details)})"
