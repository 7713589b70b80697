"""Consistent copies of the database while the server runs, and checks of a restored copy.

Uses SQLite's online backup API (``sqlite3.Connection.backup``, https://sqlite.org/backup.html)
in one step: the copy is taken inside a single read transaction, so it is the state after some
committed transaction, never a torn mix, even while another process keeps writing (WAL mode).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from server.storage.database import Database, StorageError


async def backup_database(db: Database, dest: Path) -> None:
    """Copy the whole database into the new file ``dest``.

    Raises:
        StorageError: ``dest`` exists, or SQLite fails (disk full, unreadable source).
    """
    target = _new_target(dest)
    try:
        await db.conn.backup(target, pages=-1)
    except sqlite3.Error as exc:
        raise StorageError(f"database backup failed: {exc}") from exc
    finally:
        target.close()


def _new_target(dest: Path) -> sqlite3.Connection:
    try:
        os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise StorageError(f"backup target {dest.name} exists; refusing to overwrite it") from None
    except OSError as exc:
        raise StorageError(f"cannot create backup file {dest.name}: {exc}") from exc
    try:
        return sqlite3.connect(dest, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot create backup file {dest.name}: {exc}") from exc


async def integrity_check(db: Database) -> list[str]:
    """SQLite's ``PRAGMA integrity_check``: ``[]`` when the database is sound, else the problems."""
    rows = await db.fetch_all("PRAGMA integrity_check")
    problems = [str(r[0]) for r in rows]
    return [] if problems == ["ok"] else problems


async def table_row_counts(db: Database) -> dict[str, int]:
    """``{table: row count}`` for every table (a restore summary)."""
    names = [str(r[0]) for r in await db.fetch_all(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )]
    counts = {}
    for name in names:
        row = await db.fetch_one(f'SELECT COUNT(*) FROM "{name}"')
        counts[name] = int(row[0]) if row is not None else 0
    return counts
