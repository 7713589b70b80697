"""One aiosqlite connection, numbered migrations, one write path.

SQLite in WAL mode; every write runs inside :meth:`Database.transaction`, serialised by an
asyncio lock so concurrent handlers never interleave statements of two transactions on the
shared connection. Reads run execute and fetch as one call on the database thread
(``execute_fetchall``), so concurrent tasks sharing the connection never interleave on a cursor. SQL stays portable (no SQLite-only syntax beyond
``INSERT ... ON CONFLICT``) so a PostgreSQL backend can follow.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, cast

import aiosqlite

from shared.errors import CampusPassError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StorageError(CampusPassError):
    """A database problem: cannot open, migrate, or the disk is full. Code ``storage``."""

    code = "storage"


class ConstraintError(sqlite3.IntegrityError):
    """A UNIQUE, CHECK or foreign-key constraint refused a write on PostgreSQL. A subclass of
    ``sqlite3.IntegrityError`` (what SQLite raises for the same write), so one ``except`` serves both."""


def migration_files() -> list[tuple[int, str, str]]:
    """``(number, name, sql)`` of every packaged migration, in order."""
    out = []
    for entry in resources.files("server.storage.migrations").iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    out.sort()
    numbers = [n for n, _, _ in out]
    if len(set(numbers)) != len(numbers):
        raise StorageError(f"two migrations share a number: {numbers}")
    return out


class Database:
    """The server's SQLite database.

    Args:
        path: the database file (created if missing).

    Use ``await Database.open(path)``, then :meth:`close`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "sqlite"

    #: appended to a queue's claim query: PostgreSQL locks the claimed rows and passes over rows
    #: another transaction holds (``FOR UPDATE SKIP LOCKED``); SQLite's writer lock covers it.
    skip_locked = ""

    @classmethod
    async def open(cls, path: Path, *, migrate: bool = True) -> Database:
        """Open (and by default migrate) the database at ``path``.

        Raises:
            StorageError: the file cannot be opened or a migration fails.
        """
        db = cls(path)
        try:
            db._conn = await aiosqlite.connect(path, isolation_level=None)
            db._conn.row_factory = aiosqlite.Row
            await db._conn.execute("PRAGMA journal_mode=WAL")
            await db._conn.execute("PRAGMA synchronous=NORMAL")
            await db._conn.execute("PRAGMA foreign_keys=ON")
            await db._conn.execute("PRAGMA busy_timeout=5000")
            # 128 MiB page cache: the scans table reaches millions of rows with several indexes;
            # the 2 MiB default makes every batch insert re-read index pages.
            await db._conn.execute("PRAGMA cache_size=-131072")
            # Checkpoint the WAL every ~80 MiB instead of every 4 MiB: bulk scan uploads otherwise pay
            # a checkpoint with fsync on nearly every batch (measured 3x slower ingest).
            await db._conn.execute("PRAGMA wal_autocheckpoint=20000")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {path.name}: {exc}") from exc
        if migrate:
            await db.migrate()
        return db

    @property
    def conn(self) -> aiosqlite.Connection:
        """The open connection.

        Raises:
            StorageError: the database is closed.
        """
        if self._conn is None:
            raise StorageError("database is closed")
        return self._conn

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def migrate(self) -> list[str]:
        """Apply every migration not yet applied, each in its own transaction.

        Returns:
            The names of the migrations applied now.
        """
        conn = self.conn
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        async with conn.execute("SELECT number FROM schema_migrations") as cur:
            done = {row[0] for row in await cur.fetchall()}
        applied = []
        for number, name, sql in migration_files():
            if number in done:
                continue
            async with self._write_lock:
                try:
                    await conn.execute("BEGIN IMMEDIATE")
                    for statement in split_sql(sql):
                        await conn.execute(statement)
                    await conn.execute(
                        "INSERT INTO schema_migrations (number, name, applied_at)"
                        " VALUES (?, ?, datetime('now'))",
                        (number, name),
                    )
                    await conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    await conn.execute("ROLLBACK")
                    raise StorageError(f"migration {name} failed: {exc}") from exc
            log.info("applied migration %s", name)
            applied.append(name)
        return applied

    @asynccontextmanager
    async def transaction(self, *, person_id: int | None = None) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``), rolled back on error.

        ``person_id`` names the one person whose state the transaction changes (a check-in, a
        pass refresh): PostgreSQL then lets transactions of different people run side by side
        (:meth:`server.storage.postgres.PgDatabase.transaction`, which lists what such a
        transaction may do). SQLite has one writer at a time whatever it is given.

        Raises:
            StorageError: the disk is full or the database is unwritable (translated from
                ``sqlite3.OperationalError``); nothing of the transaction is kept.
        """
        async with self._write_lock:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            try:
                await conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                await conn.execute("ROLLBACK")
                raise StorageError(f"cannot commit: {exc}") from exc

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read query (execute and fetch in one round trip to the database thread)."""
        return list(await self.conn.execute_fetchall(sql, params))

    async def fetch_tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read query as plain tuples: for bulk reads of many thousand rows (about a
        third cheaper than :meth:`fetch_all`'s named rows); three round trips to the thread."""
        async with self.conn.execute(sql, params) as cursor:
            cursor.row_factory = None
            return cast(list[tuple[Any, ...]], await cursor.fetchall())  # plain tuples: no row factory

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a read query, or None. One round trip to the database thread (a
        cursor costs three: execute, fetch, close), so meant for queries of at most a few rows
        (a key lookup, an aggregate): every row is fetched."""
        rows = await self.conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def execute_many(self, conn: aiosqlite.Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """``executemany`` inside a transaction opened with :meth:`transaction`."""
        await conn.executemany(sql, rows)


async def order_lock(conn: aiosqlite.Connection, table: str) -> None:
    """Inside a transaction about to append to ``table``, a table whose rows readers page through
    by a growing key (the revocation list's ``version``: a node asks for the entries after the
    version it holds): serialise this append with every other append to ``table`` until COMMIT,
    so keys become visible in the order they were given and no reader skips one.

    A no-op on SQLite (one writer at a time) and inside a PostgreSQL transaction that already
    holds the whole-database write lock; a transaction of one person on PostgreSQL takes a
    transaction-scoped advisory lock (:meth:`server.storage.postgres.PgConnection.order_lock`).
    """
    hold = getattr(conn, "order_lock", None)
    if hold is not None:
        await hold(table)


def split_sql(script: str) -> list[str]:
    """Split a migration file into statements: a statement ends on a line ending with ``;``
    where SQLite says the statement is complete (so a trigger's body stays whole)."""
    statements = []
    current: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") or not stripped:
            continue
        current.append(line)
        if stripped.endswith(";") and sqlite3.complete_statement("\n".join(current)):
            statements.append("\n".join(current))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements


def is_postgresql_url(url: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return url.startswith(("postgresql://", "postgres://"))


async def open_database(url: str, sqlite_path: Path, *, migrate: bool = True) -> Database:
    """The server's database: PostgreSQL when ``url`` is a ``postgresql://`` URL (``[database] url`` in
    ``server.toml``), else the SQLite file ``sqlite_path`` (the default, ``url`` empty).

    Raises:
        StorageError: the database cannot be opened or migrated, or ``url`` names another kind.
    """
    if not url:
        return await Database.open(sqlite_path, migrate=migrate)
    if is_postgresql_url(url):
        from server.storage.postgres import PgDatabase  # psycopg is imported only when used

        return await PgDatabase.open(url, migrate=migrate)
    raise StorageError(f"database url {url.split(':', 1)[0]}://…; expected postgresql://… or empty (SQLite)")
