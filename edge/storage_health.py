"""Storage faults of the node database: which errors they are, the space reserve, the health
shown in status and heartbeat (docs/edge-node.md, "Storage faults").

A storage fault is an error of the disk under the database, not of the data: SQLite's
``SQLITE_FULL`` (disk or quota full), ``SQLITE_READONLY`` (read-only remount), ``SQLITE_IOERR``
(I/O error, a failing SD card), ``SQLITE_CANTOPEN`` and any ``OSError``. During one the node
keeps deciding; :class:`edge.store.NodeStore` holds the decisions in memory until the disk
takes writes again.

:class:`SpaceReserve` is a file of ``reserve_bytes`` kept next to the database. On a full disk
it is deleted so the fault itself can be written (and the first held decisions after it); it
is made again once writes succeed and the space is there.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_STORAGE_CODES = {
    sqlite3.SQLITE_FULL: "disk_full",
    sqlite3.SQLITE_READONLY: "read_only",
    sqlite3.SQLITE_IOERR: "io_error",
    sqlite3.SQLITE_CANTOPEN: "io_error",
}
_OS_ERRNOS = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EROFS: "read_only"}


def storage_fault_kind(exc: BaseException) -> str | None:
    """``disk_full``, ``read_only`` or ``io_error`` when ``exc`` is a fault of the disk under the
    database (see the module docstring), else None (a bug or damaged data: not held back)."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return _STORAGE_CODES.get(code & 0xFF)
        text = str(exc).lower()  # errors raised without a code (older SQLite builds)
        if "disk is full" in text:
            return "disk_full"
        if "readonly" in text or "read-only" in text:
            return "read_only"
        if "disk i/o error" in text:
            return "io_error"
        return None
    if isinstance(exc, OSError):
        return _OS_ERRNOS.get(exc.errno or 0, "io_error")
    return None


@dataclass
class StorageHealth:
    """What status and heartbeat show about the node database's disk.

    Attributes:
        state: ``ok`` or ``fault`` (decisions held in memory, or the reserve not in place).
        kind: the last fault's kind (``disk_full``, ``read_only``, ``io_error``; None: never).
        error: the last fault's message (None while ok).
        queued: decisions held in memory now.
        dropped: scans denied and not recorded because the memory queue was full (this process).
        written_back: held decisions written to the database after a fault (this process).
        faults: faults that began in this process.
        reserve: whether the space reserve file is in place.
    """

    state: str = "ok"
    kind: str | None = None
    error: str | None = None
    queued: int = 0
    dropped: int = 0
    written_back: int = 0
    faults: int = 0
    reserve: bool = False

    def as_json(self) -> dict[str, Any]:
        """For ``/status`` and the heartbeat."""
        return {
            "state": self.state, "kind": self.kind, "error": self.error, "queued": self.queued,
            "dropped": self.dropped, "written_back": self.written_back, "faults": self.faults,
            "reserve": self.reserve,
        }


class SpaceReserve:
    """A file of ``size_bytes`` whose blocks are really allocated (not sparse).

    Args:
        path: the file (next to the database, on the same filesystem).
        size_bytes: reserve size; 0 disables the reserve.
    """

    def __init__(self, path: Path, size_bytes: int) -> None:
        self.path = path
        self.size_bytes = size_bytes

    @property
    def in_place(self) -> bool:
        """True when the file exists with its full size (always True when disabled)."""
        if self.size_bytes == 0:
            return True
        try:
            return self.path.stat().st_size >= self.size_bytes
        except OSError:
            return False

    def ensure(self) -> bool:
        """Create the file when missing; False when the disk has no room for it (nothing left
        behind then)."""
        if self.in_place:
            return True
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                try:
                    os.posix_fallocate(fd, 0, self.size_bytes)
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise
                    _write_zeros(fd, self.size_bytes)  # a filesystem without fallocate
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.debug("space reserve %s not made: %s", self.path, exc)
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return False
        return True

    def release(self) -> bool:
        """Delete the file (frees its blocks); True when something was freed."""
        if self.size_bytes == 0:
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("space reserve %s cannot be released: %s", self.path, exc)
            return False
        return True


def _write_zeros(fd: int, size_bytes: int) -> None:
    chunk = b"\0" * 65536
    left = size_bytes
    while left > 0:
        left -= os.write(fd, chunk[: min(left, len(chunk))])
