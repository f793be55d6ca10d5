"""Files on disk: written atomically with the modes the umask gives; inputs read safely.

``tempfile.mkstemp`` creates its files 0600 whatever the umask says, so a lockfile,
an output or a report made through it could not be read by a team or a web server
the way every other tool's files can. ``temp_beside`` asks for 0666 and lets the
kernel apply the umask (and any default ACL), as ``open(2)`` does.

``read_regular`` opens a local input without blocking: a file swapped for a FIFO
or a device after validation would otherwise hang the run, and a blocked read on
the event loop's thread would keep Ctrl-C from ever being handled.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

NAME_MAX = 255  # bytes in one path component, where pathconf cannot tell
PATH_MAX = 4096  # bytes in a whole path, likewise
_TEMP_TAIL = 10  # ".xxxxxxxx" before the suffix


def temp_beside(dest: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A new empty file in ``dest``'s folder, open for writing: ``(fd, path)``.

    A drop-in for ``tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")``
    whose name always fits the file system, even when ``dest``'s name is as long
    as a name may be.
    """
    room = NAME_MAX - 1 - _TEMP_TAIL - len(suffix.encode())
    stem = dest.name.encode()[:room].decode(errors="ignore")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    for _ in range(100):
        tmp = str(dest.with_name(f".{stem}.{secrets.token_hex(4)}{suffix}"))
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(dest.parent))


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file in the same folder, fsync, rename, fsync dir."""
    fd, tmp = temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class NotRegular(OSError):
    """A path that was to be read as a file is a FIFO, a device, a socket or a folder."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def open_regular(path: Path) -> BinaryIO:
    """Regular file ``path``, open for reading in binary.

    Raises ``NotRegular`` for anything but a regular file, without waiting for a
    FIFO's writer or a device's data; OSError when it cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(errno.EINVAL, _kind(mode), str(path))
        return os.fdopen(fd, "rb")  # O_NONBLOCK means nothing to a regular file
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int | None = None) -> bytes:
    """The bytes of regular file ``path`` (at most ``limit`` + 1 of them); see ``open_regular``."""
    with open_regular(path) as handle:
        return handle.read() if limit is None else handle.read(limit + 1)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    return "not a regular file"


def limits(folder: Path) -> tuple[int, int]:
    """The longest name and the longest path (in bytes) the file system at ``folder``
    takes, asked of its nearest existing folder."""
    probe = folder
    while not probe.is_dir() and probe != probe.parent:
        probe = probe.parent
    try:
        return os.pathconf(probe, "PC_NAME_MAX"), os.pathconf(probe, "PC_PATH_MAX")
    except (OSError, ValueError):
        return NAME_MAX, PATH_MAX


def write_problem(path: Path) -> str | None:
    """Why ``path`` cannot be written (or replaced atomically), else None.

    Checked before a run spends anything, by making and removing a file beside
    it: that answers for read-only mounts and permissions (root ignores modes,
    so ``os.access`` would not), though a disk may still fill up before the end.
    """
    if path.is_dir():
        return "is a directory"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a directory"
    try:
        fd, tmp = temp_beside(folder / path.name)
    except OSError as err:
        return err.strerror or str(err)
    os.close(fd)
    os.unlink(tmp)
    return None
