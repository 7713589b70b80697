"""The PostgreSQL backend: the same repositories and transactions as SQLite, through psycopg 3.

Selected by ``[database] url = "postgresql://…"`` in ``server.toml`` (:func:`server.storage.open_database`).
Every dialect difference the repositories would otherwise see is handled here, in one place:

- Placeholders: repositories write SQLite's ``?``; :func:`pg_sql` turns them into psycopg's ``%s``
  (and a literal ``%`` into ``%%``), leaving quoted strings alone. Parameters are bound on the client
  (``AsyncClientCursor``) so an untyped ``?`` resolves from its context exactly as in SQLite.
- Values: text cannot hold NUL on PostgreSQL: U+FFFD stands for it in parameters. A Python ``bool`` is stored as ``0``/``1`` (the schema's flags are integers on both backends);
  ``numeric`` results (``SUM`` of integers) come back as ``int`` (or ``float`` when fractional), as SQLite
  gives them. Rows are :class:`PgRow`: index, name (``row["id"]``) and unpacking, like ``sqlite3.Row``.
- Schema: the numbered migrations are SQLite SQL; :func:`pg_ddl` maps their types (``INTEGER`` →
  ``BIGINT``: Unix milliseconds overflow 32 bits; ``BLOB`` → ``BYTEA``; ``REAL`` → ``DOUBLE PRECISION``;
  an ``INTEGER PRIMARY KEY`` row id → an identity column). A migration that cannot be translated has
  a sibling ``NNNN_name.postgresql.sql`` which is applied instead.
- Errors: a constraint violation is raised as :class:`~server.storage.database.ConstraintError` (an
  ``sqlite3.IntegrityError``, what the repositories catch); any other database failure as
  :class:`~server.storage.database.StorageError`.

Isolation (docs/deploy.md): SQLite serialises writers with ``BEGIN IMMEDIATE``. Here every
:meth:`PgDatabase.transaction` runs at READ COMMITTED and first takes transaction-scoped advisory
locks, held until COMMIT or ROLLBACK:

- a transaction of no particular person takes the write lock ``WRITE_LOCK_KEY`` *exclusively*:
  it runs alone, exactly as on SQLite, and each of its statements sees everything committed before it;
- a transaction of one person (``transaction(person_id=…)``: a check-in, a pass refresh) takes the
  write lock *shared*, then that person's lock ``(PERSON_LOCK_CLASS, person id)`` exclusively: it
  waits for every exclusive holder and for the same person's other transactions, and runs side by
  side with other people's. The rule it must keep is in :meth:`PgDatabase.transaction`.

Locks are always taken in the order write lock, person lock, order lock (:func:`server.storage.database.order_lock`),
and a transaction takes at most one person lock, so two transactions never wait for each other.
Reads outside a transaction take no lock and never wait for writers.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

import psycopg
from psycopg import AsyncClientCursor, AsyncConnection
from psycopg.adapt import Dumper, Loader
from psycopg.pq import ExecStatus, Format
from psycopg.rows import RowMaker, tuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from server.storage.database import ConstraintError, Database, StorageError, migration_files

if TYPE_CHECKING:
    import aiosqlite

log = logging.getLogger(__name__)

WRITE_LOCK_KEY = 0x43505057  # "CPPW": the advisory lock every write transaction holds (exclusive or shared)
PERSON_LOCK_CLASS = 0x43505050  # "CPPP": first key of a person's lock (the second is the person's id)
ORDER_LOCK_CLASS = 0x4350504F  # "CPPO": first key of a table's order lock (the second: CRC-32 of its name)
POOL_MAX = 10  # connections per process; a transaction holds one for its whole length
POOL_TIMEOUT_S = 30.0  # waiting longer for a free connection is an error, not a hang
CLOSE_TIMEOUT_S = 5.0  # pool close: connections still out after this are closed anyway

_TUPLES = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)
_current: ContextVar[tuple[PgDatabase, PgConnection] | None] = ContextVar("campuspass_pg_tx", default=None)


def int4(value: int) -> int:
    """``value`` folded into PostgreSQL's ``int4`` range (an advisory lock key half): ids beyond
    it share a key with another id, which only makes their transactions wait for each other."""
    return (value + 2**31) % 2**32 - 2**31


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def pg_sql(sql: str) -> str:
    """SQLite-style SQL (``?`` placeholders) as psycopg SQL (``%s``; ``%`` doubled).

    Quoted strings and identifiers are copied unchanged. Pure; results are cached by the caller.
    """
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = ""
            continue
        if ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


_ROWID = re.compile(r"\bINTEGER PRIMARY KEY(?: AUTOINCREMENT)?\b(?!\s+REFERENCES)", re.IGNORECASE)
_TYPES = ((re.compile(r"\bINTEGER\b", re.IGNORECASE), "BIGINT"), (re.compile(r"\bBLOB\b", re.IGNORECASE), "BYTEA"),
          (re.compile(r"\bREAL\b", re.IGNORECASE), "DOUBLE PRECISION"))


def pg_ddl(sql: str) -> str:
    """A SQLite migration's DDL with PostgreSQL types (see the module docstring). Pure."""
    sql = _ROWID.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
    for pattern, replacement in _TYPES:
        sql = pattern.sub(replacement, sql)
    return sql


def pg_migrations() -> list[tuple[int, str, str]]:
    """``(number, name, sql)`` of every migration as applied on PostgreSQL, in order: the
    ``.postgresql.sql`` sibling when there is one, else the translated SQLite file."""
    from importlib import resources

    own = {e.name: e.read_text(encoding="utf-8") for e in resources.files("server.storage.migrations").iterdir()
           if e.name.endswith(".postgresql.sql")}
    out = []
    for number, name, sql in migration_files():
        override = own.get(name[: -len(".sql")] + ".postgresql.sql")
        out.append((number, name, override if override is not None else pg_ddl(sql)))
    return out


def split_pg_sql(script: str) -> list[str]:
    """Split a PostgreSQL migration into statements on ``;`` at line ends, keeping a ``$$``-quoted
    function body whole. ``--`` comment lines and blank lines are dropped. Pure."""
    statements: list[str] = []
    current: list[str] = []
    in_body = False
    for line in script.splitlines():
        stripped = line.strip()
        if not in_body and (stripped.startswith("--") or not stripped):
            continue
        current.append(line)
        if line.count("$$") % 2:
            in_body = not in_body
        if stripped.endswith(";") and not in_body:
            statements.append("\n".join(current))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements


class PgRow(tuple):  # type: ignore[type-arg]
    """A result row: ``row[0]``, ``row["column"]``, ``keys()`` and unpacking, like ``sqlite3.Row``."""

    _names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """Column names, in order."""
        return list(self._names)


_ROW_CLASSES: dict[tuple[bytes | None, ...], type[PgRow]] = {}


def _row_class(names: tuple[bytes | None, ...]) -> type[PgRow]:
    """The :class:`PgRow` subclass of one column list (made once per distinct list: each query
    shape has its own; the number of shapes is bounded by the repositories' SQL)."""
    cls = _ROW_CLASSES.get(names)
    if cls is None:
        index = {(n or b"").decode(): i for i, n in enumerate(names)}
        cls = _ROW_CLASSES[names] = type("PgRow", (PgRow,), {"_names": index, "__slots__": ()})
    return cls


def _returns_rows(cursor: Any) -> bool:
    """Whether the current result has rows to fetch (psycopg's ``description is not None``,
    without building its column objects)."""
    res = cursor.pgresult
    return bool(res and (res.nfields or res.status in _TUPLES))


def _pg_row(cursor: Any) -> RowMaker[PgRow]:
    res = cursor.pgresult
    cls = _row_class(tuple(res.fname(i) for i in range(res.nfields)) if res else ())
    return cast(RowMaker[PgRow], cls)


class _NumericLoader(Loader):
    """``numeric`` (``SUM`` of integers, ``AVG``) as ``int`` when whole, else ``float``."""

    def load(self, data: Any) -> Any:
        text = bytes(data).decode()
        return float(text) if "." in text or text in ("NaN", "Infinity", "-Infinity") else int(text)


class _BoolAsIntDumper(Dumper):
    """``True``/``False`` as ``1``/``0``: the schema's flags are integer columns on both backends."""

    format = Format.TEXT

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"

    def quote(self, obj: Any) -> bytes:
        return self.dump(obj)


async def _configure(conn: AsyncConnection[Any]) -> None:
    conn.adapters.register_loader("numeric", _NumericLoader)
    conn.adapters.register_dumper(bool, _BoolAsIntDumper)


class _Cursor:
    """The executed statement: ``rowcount``, ``fetchone()``, ``fetchall()`` (aiosqlite's surface)."""

    def __init__(self, cur: AsyncClientCursor[Any]) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    async def fetchone(self) -> PgRow | None:
        if not _returns_rows(self._cur):
            return None
        return cast(PgRow | None, await self._cur.fetchone())

    async def fetchall(self) -> list[PgRow]:
        if not _returns_rows(self._cur):
            return []
        return cast(list[PgRow], await self._cur.fetchall())

    async def close(self) -> None:
        await self._cur.close()


class _Statement:
    """``await conn.execute(...)`` or ``async with conn.execute(...) as cur`` (both aiosqlite idioms)."""

    def __init__(self, conn: PgConnection, sql: str, params: Sequence[Any]) -> None:
        self._conn, self._sql, self._params = conn, sql, params
        self._cursor: _Cursor | None = None

    def __await__(self) -> Any:
        return self._run().__await__()

    async def _run(self) -> _Cursor:
        self._cursor = await self._conn._execute(self._sql, self._params)
        return self._cursor

    async def __aenter__(self) -> _Cursor:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class PgConnection:
    """One pooled connection inside a transaction, with the surface of ``aiosqlite.Connection`` that the
    repositories use: ``execute``, ``executemany``, ``execute_fetchall``, ``total_changes``."""

    def __init__(self, raw: AsyncConnection[Any], *, exclusive: bool = True) -> None:
        self.raw = raw
        self.total_changes = 0  # rows changed through this adapter (SQLite's counter is per connection)
        self.exclusive = exclusive  # holds the write lock exclusively (no order lock needed)

    async def order_lock(self, table: str) -> None:
        """Take ``table``'s order lock until the transaction ends (:func:`server.storage.database.order_lock`);
        nothing to do when this transaction holds the write lock exclusively."""
        if not self.exclusive:
            await self.execute("SELECT pg_advisory_xact_lock(?, ?)", (ORDER_LOCK_CLASS, int4(zlib.crc32(table.encode()))))

    async def _execute(self, sql: str, params: Sequence[Any]) -> _Cursor:
        cur = self.raw.cursor()
        try:
            await cur.execute(_translated(sql), _values(params))
        except BaseException:
            await cur.close()
            raise_translated()
            raise
        if cur.rowcount > 0 and not _returns_rows(cur):
            self.total_changes += cur.rowcount
        return _Cursor(cast(AsyncClientCursor[Any], cur))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Statement:
        """Run one statement; await the result for a cursor, or use it as an async context manager."""
        return _Statement(self, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> _Cursor:
        """Run one statement for each parameter row (pipelined by psycopg)."""
        cur = self.raw.cursor()
        try:
            await cur.executemany(_translated(sql), [_values(r) for r in rows])
        except BaseException:
            await cur.close()
            raise_translated()
            raise
        if cur.rowcount > 0:
            self.total_changes += cur.rowcount
        return _Cursor(cast(AsyncClientCursor[Any], cur))

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[PgRow]:
        """Every row of a query."""
        cur = await self._execute(sql, params)
        try:
            return await cur.fetchall()
        finally:
            await cur.close()

    async def fetch_tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query as a plain tuple, built by psycopg's C row loader (bulk reads:
        no per-row Python call, unlike :class:`PgRow`)."""
        cur = self.raw.cursor(row_factory=tuple_row)
        try:
            await cur.execute(_translated(sql), _values(params))
            return await cur.fetchall() if _returns_rows(cur) else []
        except BaseException:
            raise_translated()
            raise
        finally:
            await cur.close()


_SQL_CACHE: dict[str, str] = {}


def _values(params: Sequence[Any]) -> tuple[Any, ...]:
    """The parameters as sent: PostgreSQL text cannot hold NUL, so U+FFFD (the replacement
    character) stands for it (a lookup with it finds nothing, as no stored text has NUL)."""
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v else v for v in params)


def _translated(sql: str) -> str:
    out = _SQL_CACHE.get(sql)
    if out is None:
        out = _SQL_CACHE[sql] = pg_sql(sql)
    return out


def raise_translated() -> None:
    """Inside ``except``: re-raise a psycopg error as the storage layer's error (no-op for others)."""
    import sys

    exc = sys.exc_info()[1]
    if isinstance(exc, psycopg.IntegrityError):
        raise ConstraintError(str(exc).strip()) from exc
    if isinstance(exc, psycopg.OperationalError | PoolTimeout):
        log.warning("database error: %s", str(exc).strip())
        raise StorageError(f"database unavailable: {str(exc).strip()}") from exc


class PgDatabase(Database):
    """The server's PostgreSQL database: a psycopg connection pool of :data:`POOL_MAX` connections.

    Args:
        url: ``postgresql://user:password@host:port/dbname`` (libpq syntax).

    Use ``await PgDatabase.open(url)``, then :meth:`close`.
    """

    def __init__(self, url: str) -> None:  # noqa: D107 - the class docstring says it
        from pathlib import Path

        super().__init__(Path("/nonexistent-postgresql"))
        self.url = url
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None

    skip_locked = " FOR UPDATE SKIP LOCKED"

    @property
    def backend(self) -> str:
        return "postgresql"

    @classmethod
    async def open(cls, url: Any, *, migrate: bool = True) -> PgDatabase:  # type: ignore[override]
        """Open the pool (waiting for the first connection) and by default migrate.

        Raises:
            StorageError: the server cannot be reached, the login fails or a migration fails.
        """
        db = cls(str(url))
        try:  # one direct connection first: a wrong address or login fails now, with libpq's reason
            probe = await AsyncConnection.connect(db.url)
            await probe.close()
        except psycopg.Error as exc:
            raise StorageError(f"cannot open database {redact(db.url)}: {str(exc).strip()}") from exc
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            db.url, min_size=1, max_size=POOL_MAX, open=False, timeout=POOL_TIMEOUT_S, configure=_configure,
            kwargs={"autocommit": True, "row_factory": _pg_row, "cursor_factory": AsyncClientCursor},
            name="campuspass")
        try:
            await pool.open(wait=True, timeout=POOL_TIMEOUT_S)
        except (psycopg.Error, PoolTimeout) as exc:
            await pool.close(timeout=CLOSE_TIMEOUT_S)
            raise StorageError(f"cannot open database {redact(db.url)}: {str(exc).strip()}") from exc
        db._pool = pool
        if migrate:
            try:
                await db.migrate()
            except BaseException:
                await db.close()
                raise
        return db

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        """The open pool.

        Raises:
            StorageError: the database is closed.
        """
        if self._pool is None:
            raise StorageError("database is closed")
        return self._pool

    @property
    def conn(self) -> aiosqlite.Connection:
        """The connection of the transaction open in this task.

        Raises:
            StorageError: no transaction is open (a pool has no single connection).
        """
        current = _current.get()
        if current is None or current[0] is not self:
            raise StorageError("no transaction open: PostgreSQL connections are taken from a pool")
        return cast("aiosqlite.Connection", current[1])

    async def close(self) -> None:
        """Close every pooled connection (idempotent; waits at most ``CLOSE_TIMEOUT_S``)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close(timeout=CLOSE_TIMEOUT_S)

    async def migrate(self) -> list[str]:
        """Apply every migration not yet applied, each in its own transaction, under the write lock
        (several processes starting at once apply each migration once).

        Returns:
            The names of the migrations applied now.
        """
        applied = []
        for number, name, sql in pg_migrations():
            async with self._raw_transaction() as conn:
                await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " number BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
                done = await conn.execute_fetchall("SELECT 1 FROM schema_migrations WHERE number = ?", (number,))
                if done:
                    continue
                try:
                    for statement in split_pg_sql(sql):
                        await conn.execute(statement)
                except psycopg.Error as exc:
                    raise StorageError(f"migration {name} failed: {str(exc).strip()}") from exc
                await conn.execute("INSERT INTO schema_migrations (number, name, applied_at)"
                                   " VALUES (?, ?, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))",
                                   (number, name))
            log.info("applied migration %s", name)
            applied.append(name)
        return applied

    @asynccontextmanager
    async def _raw_transaction(self, person_id: int | None = None) -> AsyncIterator[PgConnection]:
        try:
            async with self.pool.connection() as raw:
                async with raw.transaction():
                    conn = PgConnection(raw, exclusive=person_id is None)
                    if person_id is None:
                        await conn.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_KEY,))
                    else:
                        # one round trip; a select list is evaluated left to right: shared write lock first
                        await conn.execute("SELECT pg_advisory_xact_lock_shared(?), pg_advisory_xact_lock(?, ?)",
                                           (WRITE_LOCK_KEY, PERSON_LOCK_CLASS, int4(person_id)))
                    token = _current.set((self, conn))
                    try:
                        yield conn
                    finally:
                        _current.reset(token)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageError(f"cannot commit: {str(exc).strip()}") from exc

    @asynccontextmanager
    async def transaction(self, *, person_id: int | None = None) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction, committed on exit, rolled back on error. Without ``person_id`` it
        holds the write lock exclusively and runs alone; with it, it runs beside other people's
        transactions (module docstring).

        A transaction given ``person_id`` must change only that person's rows (their check-in,
        pass status, passes and history) and otherwise only *insert* rows that no other
        transaction of one person updates (audit entries, SMS messages under a unique id:
        ``ON CONFLICT DO NOTHING``), and must take :func:`server.storage.database.order_lock`
        before appending to a table read by a growing key (the revocation list). Anything that
        reads other people's state to decide what to write (a batch approval, a sweep, a sync
        upload) runs without ``person_id``.

        Raises:
            StorageError: the server is unreachable or the commit fails; nothing of the transaction is kept.
        """
        async with self._raw_transaction(person_id) as conn:
            yield cast("aiosqlite.Connection", conn)

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[PgConnection]:
        current = _current.get()
        if current is not None and current[0] is self:
            yield current[1]  # inside a transaction: read what it has written, as on SQLite
            return
        try:
            async with self.pool.connection() as raw:
                yield PgConnection(raw)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageError(f"database unavailable: {str(exc).strip()}") from exc

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read query."""
        async with self._reader() as conn:
            return cast(list[sqlite3.Row], await conn.execute_fetchall(sql, params))

    async def fetch_tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read query (bulk reads); each row a plain tuple (:meth:`PgConnection.fetch_tuples`)."""
        async with self._reader() as conn:
            return await conn.fetch_tuples(sql, params)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a read query, or None."""
        async with self._reader() as conn:
            rows = await conn.execute_fetchall(sql, params)
        return cast(sqlite3.Row | None, next(iter(rows), None))

    async def execute_many(self, conn: aiosqlite.Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """``executemany`` inside a transaction opened with :meth:`transaction`."""
        await conn.executemany(sql, rows)
