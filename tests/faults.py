"""Real storage faults for the node tests: a full filesystem and a read-only one.

As root (CI) :class:`FullDisk` mounts a small tmpfs and fills it with a file: SQLite then gets
``ENOSPC`` from the kernel, as on a full SD card. Without root it limits the database's page
count through the store's ``connect`` seam (SQLite's own ``max_page_count``), which makes SQLite
answer ``SQLITE_FULL`` at the same places. Either way the node sees the same error.

A filesystem turning read-only under a running node (the kernel's ``errors=remount-ro`` after SD
card I/O errors) cannot be staged with a plain remount: the kernel refuses ``remount,ro`` while
the database is open for writing. ``PRAGMA query_only`` through the same seam makes SQLite refuse
writes with ``SQLITE_READONLY``, the code the node gets from a read-only filesystem. A filesystem already
read-only when the node starts is real: :meth:`FullDisk.set_read_only_at_rest`.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Any

import aiosqlite


def _can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class FullDisk:
    """A data folder that can be made full and freed again.

    Args:
        base: a scratch folder; the data folder is ``base/disk``.
        size_bytes: the tmpfs size (root only).

    Attributes:
        folder: where the node's data folder goes.
        real: True when this is a real filesystem (tmpfs), False for the page-count seam.
    """

    def __init__(self, base: Path, size_bytes: int = 6 << 20) -> None:
        self.folder = base / "disk"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.real = False
        if _can_mount():
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(self.folder)],
                                  capture_output=True)
            self.real = done.returncode == 0
        self._conns: list[aiosqlite.Connection] = []
        self._filler = self.folder / "filler.bin"

    def connect(self, path: str, **kwargs: Any) -> aiosqlite.Connection:
        """The store's ``connect`` seam: remembers the connection (for the page-count limit)."""
        conn = aiosqlite.connect(path, **kwargs)
        self._conns.append(conn)
        return conn

    async def fill(self) -> None:
        """Leave no room for another database page."""
        if self.real:
            fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                for size in (65536, 4096, 1):
                    while True:
                        try:
                            os.write(fd, b"\xa5" * size)
                        except OSError as exc:
                            assert exc.errno == errno.ENOSPC, exc
                            break
            finally:
                os.close(fd)
            return
        for conn in self._conns:
            async with conn.execute("PRAGMA page_count") as cur:
                row = await cur.fetchone()
            assert row is not None
            await conn.execute(f"PRAGMA max_page_count = {int(row[0])}")

    async def free(self) -> None:
        """Make room again."""
        if self.real:
            self._filler.unlink(missing_ok=True)
            return
        for conn in self._conns:
            await conn.execute("PRAGMA max_page_count = 1073741823")

    async def read_only(self) -> None:
        """Refuse every write from now on, as a filesystem remounted read-only does."""
        for conn in self._conns:
            await conn.execute("PRAGMA query_only = 1")

    async def writable(self) -> None:
        """Accept writes again."""
        for conn in self._conns:
            await conn.execute("PRAGMA query_only = 0")

    def set_read_only_at_rest(self, read_only: bool) -> None:
        """Make the whole data folder read-only (or writable again) while no database is open,
        as a filesystem fsck remounted read-only at boot: as root the tmpfs is remounted;
        otherwise the folder and its files lose their write permission (which binds a user
        who is not root just the same)."""
        if self.real:
            mode = "ro" if read_only else "rw"
            subprocess.run(["mount", "-o", f"remount,{mode}", str(self.folder)], check=True, capture_output=True)
            return
        for path in [self.folder, *self.folder.rglob("*")]:
            path.chmod((0o555 if path.is_dir() else 0o444) if read_only else (0o755 if path.is_dir() else 0o644))

    def close(self) -> None:
        """Unmount (root)."""
        if self.real:
            subprocess.run(["umount", "-l", str(self.folder)], capture_output=True)
