"""Real storage faults for the node tests: a full filesystem.

As root (CI) :class:`FullDisk` mounts a small tmpfs and fills it with a file: SQLite then gets
``ENOSPC`` from the kernel, as on a full SD card. Without root it limits the database's page
count through the store's ``connect`` seam (SQLite's own ``max_page_count``), which makes SQLite
answer ``SQLITE_FULL`` at the same places. Either way the node sees the same error.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

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

    def connect(self, path: str) -> aiosqlite.Connection:
        """The store's ``connect`` seam: remembers the connection (for the page-count limit)."""
        conn = aiosqlite.connect(path)
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

    def close(self) -> None:
        """Unmount (root)."""
        if self.real:
            subprocess.run(["umount", "-l", str(self.folder)], capture_output=True)
