# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Writing files so that readers see the old content or the new, never a part, and no secret lingers."""

from __future__ import annotations

import errno
import os
import tempfile
import time

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError


def check_reachable(path):
    """Fail when ``path`` is out of reach rather than missing: the directory it is in is a symbolic link to nothing,
    or ``path`` is a link into a directory that does not exist (a volume that is not mounted, say). A link to a
    file not written yet, in a directory that exists, is a file to create."""
    directory = os.path.dirname(os.path.abspath(path))
    for candidate, missing in ((directory, directory),
                               (path, os.path.dirname(os.path.realpath(path)))):
        if os.path.islink(candidate) and not os.path.exists(candidate) and not os.path.isdir(missing):
            raise RunnerOpsError(
                f"Reading {path}",
                f"{candidate} is a symbolic link to {os.readlink(candidate)}, which does not exist (a volume or "
                "share that is not mounted?). What it holds is out of reach, so nothing is decided or written "
                "for this host.",
                fix=f"mount or restore what {candidate} points to, or remove the link if this host is new.")


def write_target(path):
    """The file a write of ``path`` replaces: the final target when ``path`` is a symbolic link.

    A config.toml linked to a persistent volume keeps being that link; replacing the link itself would
    leave the volume's file stale.
    """
    return os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)


def atomic_write(path, data, prepare=None, unsafe_writes=False, owner_from=None):
    """Replace ``path`` with ``data`` so readers see the old file or the new one, never a part.

    The temporary file is created 0600 in the same directory (so the rename stays on one file
    system), synced, given the owner of ``owner_from`` (default: ``path`` itself, when it exists) and
    then the requested owner and mode by ``prepare(temp_path)`` before it gets its name, then renamed
    over ``path``. ``unsafe_writes`` allows writing in place when the rename is refused (a file
    bind-mounted into a container). A symbolic link is written through: its target gets the new content,
    the link stays.
    """
    action = f"Writing {path}"
    path = write_target(path)
    directory = os.path.dirname(path)
    prefix = f".{os.path.basename(path)}."
    remove_orphaned_temp_files(directory, prefix)
    try:
        # The writer's pid in the name tells a later write whether this file is still being written.
        handle, temp_path = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise RunnerOpsError(action, f"cannot create a file in {directory}: {exc.strerror}.",
                             fix="make sure the directory exists and the module runs with rights to it "
                             "(become: true).") from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        _copy_owner(owner_from or path, temp_path)
        if prepare is not None:
            prepare(temp_path)
        else:
            os.chmod(temp_path, 0o600)
        try:
            os.replace(temp_path, path)
        except OSError as exc:
            if not (unsafe_writes and exc.errno in (errno.EBUSY, errno.EXDEV)):
                raise
            with open(path, "r+b") as stream:
                stream.truncate(0)
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        _fsync_directory(directory)
    except OSError as exc:
        fix = "check the free space and rights in the directory"
        if exc.errno in (errno.EBUSY, errno.EXDEV):
            fix = "the file is probably bind-mounted; set unsafe_writes=true to write it in place"
        raise RunnerOpsError(action, f"{exc.strerror or exc}.", fix=fix + ".") from exc
    finally:
        if os.path.exists(temp_path):
            os.unlink(temp_path)


def remove_orphaned_temp_files(directory, prefix):
    """Remove temporary files of writes whose process died before the rename (killed, host crash).

    They hold the new content, tokens included, so they are not left behind; a file whose writer still
    runs (another play writing the same file) is left alone.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        writer = name[len(prefix):].split(".", 1)[0]
        if writer.isdigit() and _process_alive(int(writer)):
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _copy_owner(source, destination):
    try:
        info = os.stat(source)
    except OSError:
        return
    try:
        os.chown(destination, info.st_uid, info.st_gid)
    except PermissionError:
        pass  # not root: the file stays ours, as it would with any other write


def _fsync_directory(directory):
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def backup(path, raw, now=None):
    """Write ``raw`` (the file as read) to a timestamped copy beside it, 0600 from the first byte."""
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime(now))
    destination = f"{path}.{os.getpid()}.{stamp}~"
    created = False
    try:
        source = os.stat(path)
        handle = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        created = True
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), 0o600)
            stream.write(raw)
            stream.flush()
            os.fsync(stream.fileno())
            try:
                os.fchown(stream.fileno(), source.st_uid, source.st_gid)
            except PermissionError:
                pass
    except OSError as exc:
        if created:
            # A partial copy is no backup (a full disk, say): it would only be mistaken for one.
            try:
                os.unlink(destination)
            except OSError:
                pass
        raise RunnerOpsError(f"Backing up {path}", f"{exc.strerror or exc}.",
                             fix="check the free space and rights in the directory, or set backup=false.") from exc
    return destination
