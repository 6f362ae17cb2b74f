# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Exclusive locks between runs on one machine: advisory ``flock``, released when the process ends."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import time

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError

POLL_SECONDS = 0.1


class ExclusiveLock:
    """Holds ``flock(LOCK_EX)`` on ``path`` (a directory, or a lock file created 0600) for a ``with`` block.

    Waits at most ``timeout`` seconds, then fails naming ``purpose`` and the lock. A lock held by a process
    that died is free at once (the kernel drops it with the process), so nothing ever needs cleaning up.
    """

    def __init__(self, path, timeout, purpose):
        self.path = path
        self.timeout = timeout
        self.purpose = purpose
        self.handle = None

    def __enter__(self):
        action = f"Waiting for the lock on {self.path} for {self.purpose}"
        try:
            if os.path.isdir(self.path):
                self.handle = os.open(self.path, os.O_RDONLY)
            else:
                os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
                self.handle = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise RunnerOpsError(action, f"cannot open it: {exc.strerror}.",
                                 fix="make sure its directory can be written by the user the task runs as.") from exc
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    self._close()
                    raise RunnerOpsError(action, f"{exc.strerror}.",
                                         fix="use a local file system for the lock.") from exc
            if time.monotonic() >= deadline:
                self._close()
                raise RunnerOpsError(
                    action, f"another run has held it for {self.timeout} seconds.",
                    fix="let the other play finish first (two plays on the same runners take turns), or raise "
                        "the lock timeout.")
            time.sleep(POLL_SECONDS)

    def __exit__(self, *exc_info):
        self._close()
        return False

    def _close(self):
        if self.handle is not None:
            os.close(self.handle)  # closing the last descriptor releases the flock
            self.handle = None


def api_lock_path(lock_dir, api_url):
    """One lock file per GitLab instance, named by a digest of its URL."""
    digest = hashlib.sha256(api_url.rstrip("/").lower().encode("utf-8")).hexdigest()[:20]
    return os.path.join(os.path.expanduser(lock_dir), f"gitlab-{digest}.lock")
