"""Copying a campus's SQLite database into PostgreSQL (``campuspass server migrate-db``; docs/deploy.md).

Both databases are first migrated to the same schema. Then every table is copied in batches of
:data:`BATCH` rows, in the order SQLite created them (parents before the tables that refer to them),
each batch one PostgreSQL transaction; a row whose primary key is already there is updated to the
source's values, so a second run copies only what changed and never duplicates (safe to rerun, e.g.
once while the campus runs and once more after stopping the server). Identity counters are moved past
the copied ids. Finally each table is verified: the row count and a checksum of its rows on both
sides (SHA-256 of each row's values, summed modulo 2**256: independent of row order, which differs
between the two databases' collations).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from server.storage.database import Database, StorageError

BATCH = 1000
_MOD = 1 << 256


@dataclass(frozen=True)
class TableCopy:
    """What :func:`copy_database` did to one table.

    Attributes:
        table: the table's name.
        source_rows: rows in SQLite.
        target_rows: rows in PostgreSQL after the copy.
        written: rows inserted or updated in PostgreSQL by this run.
        source_sum: the source's checksum (64 hex digits).
        target_sum: the target's checksum.
    """

    table: str
    source_rows: int
    target_rows: int
    written: int
    source_sum: str
    target_sum: str

    @property
    def ok(self) -> bool:
        """Same number of rows and the same checksum on both sides."""
        return self.source_rows == self.target_rows and self.source_sum == self.target_sum


def _row_digest(row: Any) -> int:
    parts = []
    for value in row:
        if value is None:
            parts.append(b"N")
        elif isinstance(value, bytes | bytearray | memoryview):
            parts.append(b"b" + bytes(value).hex().encode())
        elif isinstance(value, bool | int):
            parts.append(b"i%d" % int(value))
        elif isinstance(value, float):
            parts.append(b"f" + repr(value).encode())
        else:
            parts.append(b"s" + str(value).encode("utf-8", "surrogatepass"))
    return int.from_bytes(hashlib.sha256(b"\x1f".join(parts)).digest(), "big")


async def _tables(source: Database) -> list[tuple[str, list[str], list[str]]]:
    """``(table, columns, primary key columns)`` in creation order, schema_migrations left out."""
    out = []
    for (name,) in await source.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name <> 'schema_migrations' ORDER BY rowid"):
        info = await source.fetch_all(f'PRAGMA table_info("{name}")')
        columns = [r[1] for r in info]
        key = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
        out.append((name, columns, key))
    return out


async def _checksum(db: Database, table: str, columns: list[str]) -> tuple[int, str]:
    total, count = 0, 0
    cols = ", ".join(f'"{c}"' for c in columns)
    for row in await db.fetch_tuples(f'SELECT {cols} FROM "{table}"'):
        total = (total + _row_digest(row)) % _MOD
        count += 1
    return count, f"{total:064x}"


async def copy_database(source: Database, target: Database) -> list[TableCopy]:
    """Copy every table of ``source`` (SQLite) into ``target`` (PostgreSQL) and verify it.

    Raises:
        StorageError: the two schemas differ (different migrations applied), or a write fails.
    """
    if source.backend != "sqlite" or target.backend != "postgresql":
        raise StorageError(f"copying {source.backend} to {target.backend}; expected sqlite to postgresql")
    applied = [tuple(r) for r in await source.fetch_all("SELECT number FROM schema_migrations ORDER BY number")]
    there = [tuple(r) for r in await target.fetch_all("SELECT number FROM schema_migrations ORDER BY number")]
    if applied != there:
        raise StorageError(f"the databases are at different migrations ({len(applied)} and {len(there)} applied);"
                           " run the same campuspass version on both")
    reports = []
    for table, columns, key in await _tables(source):
        cols = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        rest = [c for c in columns if c not in key]
        if key and rest:
            keys = ", ".join(f'"{c}"' for c in key)
            sets = ", ".join(f'"{c}" = excluded."{c}"' for c in rest)
            differs = " OR ".join(f'"{table}"."{c}" IS DISTINCT FROM excluded."{c}"' for c in rest)
            conflict = f" ON CONFLICT ({keys}) DO UPDATE SET {sets} WHERE {differs}"
        else:
            conflict = " ON CONFLICT DO NOTHING"
        insert = f'INSERT INTO "{table}" ({cols}) VALUES ({marks}){conflict}'
        written = 0
        async with source.conn.execute(f'SELECT {cols} FROM "{table}"') as cursor:
            while True:
                rows = await cursor.fetchmany(BATCH)
                if not rows:
                    break
                async with target.transaction() as conn:
                    before = getattr(conn, "total_changes", 0)
                    await conn.executemany(insert, [tuple(r) for r in rows])
                    written += getattr(conn, "total_changes", 0) - before
        await _reset_identity(target, table)
        source_rows, source_sum = await _checksum(source, table, columns)
        target_rows, target_sum = await _checksum(target, table, columns)
        reports.append(TableCopy(table, source_rows, target_rows, written, source_sum, target_sum))
    return reports


async def _reset_identity(target: Database, table: str) -> None:
    """Move the table's identity counter past the highest copied id (new rows get fresh ids)."""
    for (column,) in await target.fetch_all(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ? AND is_identity = 'YES'", (table,)):
        async with target.transaction() as conn:
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX(\"{column}\"), 0) + 1, false)"
                f' FROM "{table}"', (table, column))
