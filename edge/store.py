"""The node's own SQLite database (WAL): scan log, trust data, trusted time. All node SQL is here.

One :class:`NodeStore` per node process; its single aiosqlite connection is the only write
path (statements run in aiosqlite's thread, never on the event loop). Besides the tables the
store keeps the verified trust data in memory (:attr:`trust_bundle`, :attr:`revocations`,
:attr:`policies`), so a door decision reads no SQL; every method that changes trust data
verifies it, writes it and swaps the in-memory view in one step.

Methods the sync component uses (docs/architecture.md §8): :meth:`unsynced`, :meth:`mark_synced`,
:meth:`purge_synced`, :meth:`replace_trust_bundle`, :meth:`apply_revocation_delta`,
:meth:`replace_policy`, :meth:`raise_time_floor` (and :meth:`reset_time_floor`),
:meth:`record_clock_offset`, :meth:`stats`, :meth:`prune_revocations`.
Times in SQLite are Unix seconds (or milliseconds where the column says ``_ms``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import re
import sqlite3
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import aiosqlite

from edge.bundle import BundleDocs
from edge.storage_health import SpaceReserve, StorageHealth, storage_fault_kind
from edge.timekeeping import FLOOR_SLACK_S, TimeAnchor
from shared.errors import CampusPassError
from shared.policy import PolicySet, parse_policy_document, verify_policy_document
from shared.revocation import RevocationEntry, RevocationSet, verify_delta
from shared.scanlog import GENESIS_HASH, ScanRecord, seal, verify_chain
from shared.signed_doc import require
from shared.trust import TrustBundle

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def node_migrations() -> list[tuple[int, str]]:
    """``(number, sql)`` of every packaged node migration (``edge/migrations``), in order."""
    out = []
    for entry in resources.files("edge.migrations").iterdir():
        found = _MIGRATION_NAME.match(entry.name)
        if found:
            out.append((int(found.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(out)


SCHEMA_VERSION = max(n for n, _ in node_migrations())
"""The node database version this code writes (``PRAGMA user_version``)."""

_SCAN_COLUMNS = (
    "seq, scan_id, node_id, at_ms, mono_ms, clock_trusted, serial, subject, text_sha256, "
    "verdict, reason, direction, prev_hash, hash, trust_stale"
)


P = ParamSpec("P")
R = TypeVar("R")


def _serialised(
    fn: Callable[Concatenate[NodeStore, P], Awaitable[R]],
) -> Callable[Concatenate[NodeStore, P], Awaitable[R]]:
    """Run a write method under the store's lock: its statements and commit never interleave
    with another write (the scan log writer and sync share one connection)."""

    @functools.wraps(fn)
    async def wrapper(self: NodeStore, *args: P.args, **kwargs: P.kwargs) -> R:
        async with self._lock:
            try:
                return await fn(self, *args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                kind = await self._enter_fault(exc)
                raise StoreError(f"the node database cannot be written ({kind}): {exc}",
                                 code="storage_fault") from exc

    return wrapper


log = logging.getLogger(__name__)

Connect = Callable[..., aiosqlite.Connection]
"""Opens the SQLite connection (default ``aiosqlite.connect``; called as ``connect(path)`` or
``connect(uri, uri=True)``): the storage seam of tests."""


class _OpenFault(Exception):
    """Opening the database read-write met a storage fault (``kind`` as
    :func:`edge.storage_health.storage_fault_kind`)."""

    def __init__(self, kind: str, exc: BaseException) -> None:
        super().__init__(kind)
        self.kind, self.exc = kind, exc


class StoreError(CampusPassError):
    """The node database cannot be used as asked. Codes: ``not_seeded``, ``root_mismatch``,
    ``stale_document`` (an older version than the one held), ``revocation_gap``,
    ``bad_database`` (cannot be opened, or not a node database), ``storage_fault`` (the disk
    refused a write: full, read-only, I/O error; nothing of that change was kept),
    ``log_queue_full`` (a decision could not be recorded: the disk fails and the memory queue
    holds ``storage.queue_max`` decisions already)."""

    code = "node_store"


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Figures for status and heartbeat.

    Attributes:
        last_seq: highest sequence number logged (0: none).
        unsynced: records not yet acknowledged by the server (the queue depth).
        oldest_unsynced_at_ms: decision time of the oldest unsynced record (None: none).
    """

    last_seq: int
    unsynced: int
    oldest_unsynced_at_ms: int | None


def _row_to_record(row: Any, epoch: int) -> ScanRecord:
    return ScanRecord(
        seq=row[0], scan_id=row[1], node_id=row[2], at_ms=row[3], mono_ms=row[4],
        clock_trusted=bool(row[5]), serial=row[6], subject=row[7], text_sha256=row[8],
        verdict=row[9], reason=row[10], direction=row[11], prev_hash=row[12], hash=row[13],
        epoch=epoch, trust_stale=bool(row[14]),
    )


def file_size(path: Path) -> int | None:
    """Size of the file at ``path`` in bytes, None when there is none (start-up checks; tiny)."""
    try:
        return path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return None


async def _check(conn: aiosqlite.Connection, *, full: bool) -> list[str]:
    """SQLite's own check of the file: ``[]`` when intact, else its complaints."""
    async with conn.execute("PRAGMA integrity_check(20)" if full else "PRAGMA quick_check(20)") as cur:
        rows = [str(r[0]) for r in await cur.fetchall()]
    return [] if rows == ["ok"] else rows


def _refuses_writes(folder: Path) -> bool:
    """The folder's filesystem is mounted read-only, or this process may not write in it
    (SQLite says only "unable to open database file" for both)."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY) or not os.access(folder, os.W_OK)
    except OSError:
        return False


async def _refuse_pending_migrations(conn: aiosqlite.Connection, path: Path) -> None:
    """On a read-only filesystem nothing can be migrated: a database at another schema version
    than this campuspass's is refused (``bad_database``) rather than read in a shape it is not."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    if (int(row[0]) if row else 0) != SCHEMA_VERSION:
        raise StoreError(f"the node database {path} needs a migration and its filesystem is read-only",
                         code="bad_database")


async def _migrate(conn: aiosqlite.Connection, path: Path) -> None:
    """Apply every node migration above ``PRAGMA user_version``, each in its own transaction.

    Raises:
        StoreError: ``newer_database`` when the file was written by a newer version.
    """
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the node database {path} is schema version {version}; this campuspass knows up to "
            f"{SCHEMA_VERSION}: install the newer version again (the data is kept as it is)",
            code="newer_database",
        )
    for number, sql in node_migrations():
        if number > version:
            await conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
            log.info("node database migrated to version %d", number)


class NodeStore:
    """The node database. Open with :meth:`open`; close with :meth:`close`.

    Attributes:
        trust_bundle: the verified trust bundle (None until seeded).
        revocations: the revocation set (version 0 until seeded).
        policies: the verified policy document (None until seeded).
        revocations_issued_at_s: when the server signed the newest revocation data applied
            (Unix seconds); trust age is measured from it.
    """

    def __init__(self, conn: aiosqlite.Connection, root_public: bytes, *,
                 reserve: SpaceReserve | None = None, queue_max: int = 5000) -> None:
        self._conn = conn
        self.root_public = root_public
        self.reserve = reserve or SpaceReserve(Path("."), 0)
        self.queue_max = queue_max
        self.health = StorageHealth(reserve=self.reserve.in_place)
        self._pending: deque[ScanRecord] = deque()
        self.trust_bundle: TrustBundle | None = None
        self.revocations = RevocationSet()
        self.policies: PolicySet | None = None
        self.revocations_issued_at_s = 0
        self._time_floor_s = 0
        self._time_anchor: TimeAnchor | None = None
        self.epoch = 0
        self.recovery: Any = None  # set by edge.node.open_store: an edge.recovery.Recovery or None
        self._last_seq = 0
        self._last_hash = GENESIS_HASH
        self._pending_floor_s = 0
        self._dropped_recorded = 0
        self._lock = asyncio.Lock()
        #: Set when the database was opened read-only (its filesystem refused writes at start):
        #: opens it read-write again, tried before each write-back.
        self._reopen: Callable[[], Awaitable[aiosqlite.Connection]] | None = None

    @classmethod
    async def open(cls, path: Path, root_public: bytes, *, synchronous: str = "FULL",
                   reserve_bytes: int = 0, queue_max: int = 5000, connect: Connect = aiosqlite.connect,
                   check: str = "quick") -> NodeStore:
        """Open (creating) the database at ``path`` with the pinned root key (32 bytes).

        ``synchronous`` is SQLite's durability setting: ``FULL`` (default: a decision is on disk
        before its light shows) or ``OFF`` for tests and benchmarks that fill a log quickly.
        ``reserve_bytes``: the space reserve next to the database (``<path>.reserve``; 0: none);
        ``queue_max``: decisions held in memory during a storage fault (``[storage]``).
        ``connect`` opens the SQLite connection (tests pass one that limits its size).
        ``check``: ``quick`` (``PRAGMA quick_check``, default), ``full`` (``integrity_check``) or
        ``none`` before use.

        Raises:
            StoreError: code ``root_mismatch`` when the database was seeded under another root;
                ``bad_database`` when the folder or file cannot be opened; ``damaged_database``
                when it is empty (0 bytes), not SQLite, fails the check, or its content cannot be
                read; ``newer_database`` when a newer campuspass wrote it.
            ValueError: ``synchronous`` is not FULL, NORMAL or OFF.
        """
        if synchronous not in ("FULL", "NORMAL", "OFF"):
            raise ValueError(f"synchronous = {synchronous!r}; expected FULL, NORMAL or OFF")
        try:
            return await cls._open(path, root_public, synchronous=synchronous, reserve_bytes=reserve_bytes,
                                   queue_max=queue_max, connect=connect, check=check)
        except _OpenFault as fault:
            if file_size(path) is None:  # nothing to read the trust data from
                raise StoreError(f"the node database {path} cannot be used: {fault.exc}",
                                 code="bad_database") from None
            store = await cls._open(path, root_public, synchronous=synchronous, reserve_bytes=reserve_bytes,
                                    queue_max=queue_max, connect=connect, check=check, read_only=True)
            store._reopen = functools.partial(cls._connect_rw, path, synchronous, connect)
            await store._note_fault("read_only" if _refuses_writes(path.parent) else fault.kind, fault.exc)
            return store

    @staticmethod
    async def _connect_rw(path: Path, synchronous: str, connect: Connect) -> aiosqlite.Connection:
        conn = await connect(str(path))
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute(f"PRAGMA synchronous={synchronous}")
        except BaseException:
            await conn.close()
            raise
        return conn

    @classmethod
    async def _open(cls, path: Path, root_public: bytes, *, synchronous: str, reserve_bytes: int,
                    queue_max: int, connect: Connect, check: str, read_only: bool = False) -> NodeStore:
        """:meth:`open`'s work. ``read_only``: open the file immutable and read-only (its
        filesystem refuses writes) and write nothing. Raises :class:`_OpenFault` when the
        read-write open meets a storage fault."""
        try:
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            if file_size(path) == 0:
                raise StoreError(f"the node database {path} is empty (0 bytes)", code="damaged_database")
            if read_only:
                conn = await connect(f"file:{urllib.parse.quote(str(path))}?mode=ro&immutable=1", uri=True)
            else:
                conn = await connect(str(path))
        except OSError as exc:
            kind = storage_fault_kind(exc)
            if kind is not None and not read_only:
                raise _OpenFault(kind, exc) from None
            raise StoreError(f"cannot open the node database {path}: {exc}", code="bad_database") from None
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the node database {path}: {exc}", code="bad_database") from None
        try:
            if not read_only:
                await conn.execute("PRAGMA journal_mode=WAL")
                await conn.execute(f"PRAGMA synchronous={synchronous}")
            if check != "none":
                problems = await _check(conn, full=check == "full")
                if problems:
                    raise StoreError(f"the node database {path} is damaged: {'; '.join(problems[:3])}",
                                     code="damaged_database")
            if read_only:
                await _refuse_pending_migrations(conn, path)
            else:
                await _migrate(conn, path)
            reserve = SpaceReserve(path.with_name(path.name + ".reserve"), reserve_bytes)
            store = cls(conn, root_public, reserve=reserve, queue_max=queue_max)
            await store._load()
            if not read_only:
                store.health.reserve = await asyncio.to_thread(reserve.ensure)
        except sqlite3.DatabaseError as exc:
            await conn.close()
            kind = storage_fault_kind(exc)
            if kind is not None and not read_only:
                raise _OpenFault(kind, exc) from None
            if kind is not None:
                raise StoreError(f"the node database {path} cannot be used: {exc}", code="bad_database") from None
            raise StoreError(f"the node database {path} is damaged: {exc}", code="damaged_database") from None
        except (KeyError, TypeError, ValueError) as exc:  # meta or documents unreadable
            await conn.close()
            raise StoreError(f"the node database {path} is damaged: {exc!r}", code="damaged_database") from None
        except BaseException:
            await conn.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        await self._conn.close()

    # ---- loading -----------------------------------------------------------------------

    async def _meta(self, key: str) -> str | None:
        async with self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def _set_meta(self, key: str, value: object) -> None:
        await self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )

    async def _load(self) -> None:
        pinned = await self._meta("root_public")
        if pinned is not None and pinned != self.root_public.hex():
            raise StoreError(
                "the node database was seeded under another root key than root.pub; "
                "re-provision the node (move the data folder away first)",
                code="root_mismatch",
            )
        self._time_floor_s = int(await self._meta("time_floor_s") or 0)
        self.epoch = int(await self._meta("chain_epoch") or 0)
        anchor = await self._meta("time_anchor")
        if anchor is not None:
            a = json.loads(anchor)
            self._time_anchor = TimeAnchor(float(a["server_s"]), float(a["mono_s"]), str(a["boot_id"]))
        self.revocations_issued_at_s = int(await self._meta("revocations_issued_at_s") or 0)
        async with self._conn.execute("SELECT kind, body FROM documents") as cur:
            docs = {kind: json.loads(body) for kind, body in await cur.fetchall()}
        if "trust_bundle" in docs:
            self.trust_bundle = TrustBundle.load(docs["trust_bundle"], self.root_public)
        if "policy" in docs:
            self.policies = parse_policy_document(docs["policy"])
        revset = RevocationSet(version=int(await self._meta("revocation_version") or 0))
        async with self._conn.execute("SELECT entry FROM revocations ORDER BY version") as cur:
            for (entry,) in await cur.fetchall():
                revset.add(RevocationEntry.from_json(json.loads(entry)))
        self.revocations = revset
        async with self._conn.execute("SELECT seq, hash FROM scans ORDER BY seq DESC LIMIT 1") as cur:
            row = await cur.fetchone()
        if row is not None:
            self._last_seq, self._last_hash = int(row[0]), str(row[1])
        else:
            self._last_seq = int(await self._meta("purged_seq") or 0)
            self._last_hash = await self._meta("purged_hash") or GENESIS_HASH

    async def start_epoch(self, epoch: int) -> None:
        """Make this (new, empty) log the start of chain epoch ``epoch`` (> 0): its first record
        has seq 1 and carries ``epoch``, so the server can tell it from the lost database's chain.

        Raises:
            StoreError: ``not_empty`` when the log already holds records.
        """
        async with self._lock:
            if self._last_seq:
                raise StoreError("a chain epoch starts only on an empty log", code="not_empty")
            await self._set_meta("chain_epoch", int(epoch))
            await self._conn.commit()
            self.epoch = int(epoch)

    async def integrity_problems(self, *, full: bool = True) -> list[str]:
        """SQLite's ``integrity_check`` (``full``) or ``quick_check`` of the open database:
        ``[]`` when intact, else up to 20 complaints."""
        async with self._lock:
            return await _check(self._conn, full=full)

    @property
    def seeded(self) -> bool:
        """True once trust bundle and policy are present."""
        return self.trust_bundle is not None and self.policies is not None

    async def seed(self, docs: BundleDocs) -> None:
        """Fill an empty database from the provisioning bundle (no-op once seeded).

        Raises:
            StoreError: ``root_mismatch`` when the bundle's root differs from the pinned one.
            DocumentError, TrustError, SignatureError: a document does not verify.
        """
        if self.seeded:
            return
        if docs.root_public != self.root_public:
            raise StoreError("bundle root.pub differs from the pinned root key", code="root_mismatch")
        await self._set_meta("root_public", self.root_public.hex())
        await self._conn.commit()
        await self.replace_trust_bundle(docs.trust_bundle)
        await self.apply_revocation_delta(docs.revocations)
        await self.replace_policy(docs.policy)

    # ---- trust data (verified, then written, then swapped in) ----------------------------

    @_serialised
    async def replace_trust_bundle(self, doc: dict[str, Any]) -> TrustBundle:
        """Verify ``doc`` against the pinned root and make it the current bundle.

        Raises:
            DocumentError, BundleSignatureError: not a bundle signed by the pinned root.
            StoreError: ``stale_document`` when its version is lower than the current one.
        """
        bundle = TrustBundle.load(doc, self.root_public)
        if self.trust_bundle is not None and bundle.version < self.trust_bundle.version:
            raise StoreError(
                f"trust bundle v{bundle.version} is older than the held v{self.trust_bundle.version}",
                code="stale_document",
            )
        await self._put_document("trust_bundle", bundle.version, bundle.issued_at_s, bundle.to_json())
        await self._raise_floor_sql(bundle.issued_at_s)
        await self._conn.commit()
        self.trust_bundle = bundle
        return bundle

    def _require_bundle(self) -> TrustBundle:
        if self.trust_bundle is None:
            raise StoreError("the node has no trust bundle yet; seed it first", code="not_seeded")
        return self.trust_bundle

    @_serialised
    async def apply_revocation_delta(self, doc: dict[str, Any]) -> RevocationSet:
        """Verify a revocation delta with the trust bundle and apply it.

        The delta must start at or below the held version (``since`` ≤ version); entries at
        or below the held version are skipped, so re-applying a delta is harmless.

        Raises:
            DocumentError, TrustError, SignatureError: it does not verify.
            StoreError: ``revocation_gap`` when ``since`` is above the held version.
        """
        bundle = self._require_bundle()
        issued_at = require(doc, "issued_at", int, "revocation delta")
        delta = verify_delta(doc, bundle, issued_at)
        held = self.revocations.version
        if delta.since > held:
            raise StoreError(
                f"revocation delta since v{delta.since} does not follow the held v{held}",
                code="revocation_gap",
            )
        new = [e for e in delta.entries if e.version > held]
        await self._conn.executemany(
            "INSERT INTO revocations (version, entry, expires_at) VALUES (?, ?, ?)",
            [(e.version, json.dumps(e.to_json()), e.expires_s) for e in new],
        )
        version = max(held, delta.version)
        await self._set_meta("revocation_version", version)
        issued = max(self.revocations_issued_at_s, delta.issued_at_s)
        await self._set_meta("revocations_issued_at_s", issued)
        await self._raise_floor_sql(delta.issued_at_s)
        await self._conn.commit()
        for e in new:
            self.revocations.add(e)
        self.revocations.version = version
        self.revocations_issued_at_s = issued
        return self.revocations

    @_serialised
    async def prune_revocations(self, now_s: int) -> int:
        """Drop revocation entries whose passes have expired by ``now_s``; returns how many."""
        cur = await self._conn.execute("DELETE FROM revocations WHERE expires_at <= ?", (now_s,))
        await self._conn.commit()
        self.revocations.prune(now_s)
        return cur.rowcount

    @_serialised
    async def replace_policy(self, doc: dict[str, Any]) -> PolicySet:
        """Verify a policy document with the trust bundle and make it current.

        Raises:
            DocumentError, TrustError, SignatureError: it does not verify.
            StoreError: ``stale_document`` when its version is lower than the current one.
        """
        bundle = self._require_bundle()
        issued_at = require(doc, "issued_at", int, "policy")
        policies = verify_policy_document(doc, bundle, issued_at)
        if self.policies is not None and policies.version < self.policies.version:
            raise StoreError(
                f"policy v{policies.version} is older than the held v{self.policies.version}",
                code="stale_document",
            )
        await self._put_document("policy", policies.version, policies.issued_at_s, doc)
        await self._raise_floor_sql(policies.issued_at_s)
        await self._conn.commit()
        self.policies = policies
        return policies

    async def _put_document(self, kind: str, version: int, issued_at: int, body: dict[str, Any]) -> None:
        await self._conn.execute(
            "INSERT INTO documents (kind, version, issued_at, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind) DO UPDATE SET version = excluded.version, "
            "issued_at = excluded.issued_at, body = excluded.body",
            (kind, version, issued_at, json.dumps(body, sort_keys=True)),
        )

    # ---- trusted time -------------------------------------------------------------------

    @property
    def time_floor_s(self) -> int:
        """The persisted lower bound of trusted time (Unix seconds; 0 when none)."""
        return self._time_floor_s

    async def _raise_floor_sql(self, at_s: int) -> None:
        if at_s > self._time_floor_s:
            await self._set_meta("time_floor_s", at_s)
            self._time_floor_s = at_s

    @_serialised
    async def raise_time_floor(self, at_s: int) -> int:
        """Raise the trusted-time lower bound to ``at_s`` (Unix seconds, e.g. the server's
        time at a sync); never lowers it. Returns the bound now held."""
        await self._raise_floor_sql(int(at_s))
        await self._conn.commit()
        return self._time_floor_s

    @_serialised
    async def reset_time_floor(self, server_s: int) -> int:
        """Set the lower bound to the server's time even if that lowers it (Unix seconds).

        For sync only, with a time taken from an authenticated server response: a node whose
        clock once ran far ahead (a bad RTC) would otherwise distrust a correct clock forever.
        Returns the bound now held.
        """
        await self._set_meta("time_floor_s", int(server_s))
        await self._conn.commit()
        self._time_floor_s = int(server_s)
        return self._time_floor_s

    @property
    def time_anchor(self) -> TimeAnchor | None:
        """The server time seen at the last sync with its monotonic time and boot id (None: never)."""
        return self._time_anchor

    @_serialised
    async def apply_server_time(self, anchor: TimeAnchor, offset_s: float) -> int:
        """Take the server's time from a sync answer, in one transaction: the floor rises to it,
        or comes down to it when it was above (a floor poisoned by a clock that once ran ahead);
        the anchor and the clock offset (server − node, seconds) are kept.

        For sync only, with a time taken from an authenticated server response. Returns the
        floor now held (Unix seconds).
        """
        server_s = int(anchor.server_s)
        if self._time_floor_s > server_s + FLOOR_SLACK_S:
            log.warning("trusted-time floor %d was %d s ahead of the server's time; set to the server's",
                        self._time_floor_s, self._time_floor_s - server_s)
            await self._set_meta("time_floor_s", server_s)
            self._time_floor_s = server_s
        else:
            await self._raise_floor_sql(server_s)
        await self._set_meta("time_anchor", json.dumps(
            {"server_s": anchor.server_s, "mono_s": anchor.mono_s, "boot_id": anchor.boot_id}))
        await self._set_meta("clock_offset_s", repr(float(offset_s)))
        await self._set_meta("clock_offset_at_s", server_s)
        await self._conn.commit()
        self._time_anchor = anchor
        return self._time_floor_s

    @_serialised
    async def record_clock_offset(self, offset_s: float, at_s: int) -> None:
        """Remember the clock offset (server time − node time, seconds) measured at ``at_s``."""
        await self._set_meta("clock_offset_s", repr(float(offset_s)))
        await self._set_meta("clock_offset_at_s", int(at_s))
        await self._conn.commit()

    async def clock_offset(self) -> tuple[float, int] | None:
        """``(offset_s, measured_at_s)`` last recorded, or None."""
        offset = await self._meta("clock_offset_s")
        at = await self._meta("clock_offset_at_s")
        return None if offset is None or at is None else (float(offset), int(at))

    # ---- the scan log ---------------------------------------------------------------------

    @_serialised
    async def append_scan(
        self,
        *,
        scan_id: str,
        node_id: str,
        at_ms: int,
        mono_ms: int,
        clock_trusted: bool,
        serial: str | None,
        subject: str | None,
        text_sha256: str,
        verdict: str,
        reason: str,
        direction: str,
        raise_floor: bool = True,
        trust_stale: bool = False,
    ) -> ScanRecord:
        """Append one decision to the hash-chained log and commit (durable before return).

        Also raises the trusted-time lower bound to ``at_ms`` in the same transaction, when
        ``raise_floor`` (the decision's clock was trusted).

        During a storage fault (see :mod:`edge.storage_health`) the record is sealed into the
        chain all the same and held in memory, in order, until :meth:`write_back` writes it
        (:attr:`health` says ``fault``); records made while others are held join the queue
        behind them, so the database never holds them out of order.

        Raises:
            StoreError: ``log_queue_full`` when ``queue_max`` records are held already (the
                decision is not sealed and is counted in ``health.dropped``).
        """
        if len(self._pending) >= self.queue_max:
            self.health.dropped += 1
            raise StoreError(
                f"decision not recorded: the disk fails and {self.queue_max} decisions are held in memory",
                code="log_queue_full",
            )
        record = seal(
            seq=self._last_seq + 1, scan_id=scan_id, node_id=node_id, at_ms=at_ms, mono_ms=mono_ms,
            clock_trusted=clock_trusted, serial=serial, subject=subject, text_sha256=text_sha256,
            verdict=verdict, reason=reason, direction=direction, prev_hash=self._last_hash,
            epoch=self.epoch, trust_stale=trust_stale,
        )
        floor_s = at_ms // 1000 if raise_floor else 0
        if self._pending:
            self._hold(record, floor_s)
            return record
        try:
            await self._insert_scans([record])
            await self._raise_floor_sql(floor_s)
            await self._conn.commit()
        except (sqlite3.Error, OSError) as exc:
            await self._enter_fault(exc)
            self._hold(record, floor_s)
            return record
        self._last_seq, self._last_hash = record.seq, record.hash
        return record

    def _hold(self, record: ScanRecord, floor_s: int) -> None:
        self._pending.append(record)
        self._pending_floor_s = max(self._pending_floor_s, floor_s)
        self._time_floor_s = max(self._time_floor_s, floor_s)  # persisted by write_back
        self._last_seq, self._last_hash = record.seq, record.hash
        self.health.queued = len(self._pending)

    async def _insert_scans(self, records: list[ScanRecord]) -> None:
        await self._conn.executemany(
            f"INSERT INTO scans ({_SCAN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(
                r.seq, r.scan_id, r.node_id, r.at_ms, r.mono_ms, int(r.clock_trusted), r.serial, r.subject,
                r.text_sha256, r.verdict, r.reason, r.direction, r.prev_hash, r.hash, int(r.trust_stale),
            ) for r in records],
        )

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error, OSError, ValueError):
            await self._conn.rollback()

    async def _enter_fault(self, exc: sqlite3.Error | OSError) -> str:
        """Roll back the failed write and enter the fault state (:meth:`_note_fault`); returns
        the fault's kind. Raises ``exc`` again when it is not a storage fault (a bug, not the disk)."""
        kind = storage_fault_kind(exc)
        if kind is None:
            raise exc
        await self._rollback()
        await self._note_fault(kind, exc)
        return kind

    async def _note_fault(self, kind: str, exc: BaseException) -> None:
        """Enter the fault state (logged once per fault); on a full disk release the reserve
        and write the fault into ``meta`` with the space it freed."""
        first = self.health.state == "ok"
        self.health.state, self.health.kind, self.health.error = "fault", kind, str(exc)
        if not first:
            return
        self.health.faults += 1
        released = kind == "disk_full" and await asyncio.to_thread(self.reserve.release)
        self.health.reserve = self.reserve.in_place
        log.error("storage fault (%s): %s; decisions are held in memory (at most %d) until the disk "
                  "takes writes again%s", kind, exc, self.queue_max,
                  "; space reserve released" if released else "")
        try:
            faults = int(await self._meta("storage_faults") or 0) + 1
            await self._set_meta("storage_faults", faults)
            await self._set_meta("storage_fault_last", kind)
            await self._conn.commit()
        except (sqlite3.Error, OSError) as exc2:
            await self._rollback()
            log.debug("storage fault not recorded in the database: %s", exc2)

    async def _reopen_rw(self) -> bool:
        """Swap the read-only connection for a read-write one once the filesystem takes writes."""
        assert self._reopen is not None
        try:
            conn = await self._reopen()
        except (sqlite3.Error, OSError) as exc:
            if storage_fault_kind(exc) is None:
                raise
            self.health.error = str(exc)
            return False
        await self._conn.close()
        self._conn, self._reopen = conn, None
        log.warning("the node database's filesystem takes writes again: reopened read-write")
        return True

    @property
    def pending(self) -> int:
        """Decisions held in memory (not yet in the database)."""
        return len(self._pending)

    async def write_back(self) -> bool:
        """Write the decisions held in memory, in order, in one transaction, and make the space
        reserve again; the fault ends when both are done. Returns True when storage is ok.

        Called every ``storage.retry_s`` by the node while :attr:`health` says ``fault``.
        """
        async with self._lock:
            if self._reopen is not None and not await self._reopen_rw():
                return False
            held = list(self._pending)
            if held:
                dropped = self.health.dropped - self._dropped_recorded
                try:
                    await self._insert_scans(held)
                    if self._pending_floor_s:  # held in memory by _hold: persist it now
                        await self._set_meta("time_floor_s", self._time_floor_s)
                    if dropped:
                        total = int(await self._meta("dropped_decisions") or 0) + dropped
                        await self._set_meta("dropped_decisions", total)
                    await self._conn.commit()
                except (sqlite3.Error, OSError) as exc:
                    kind = storage_fault_kind(exc)
                    if kind is None:
                        raise
                    await self._rollback()
                    self.health.kind, self.health.error = kind, str(exc)
                    return False
                for _ in held:
                    self._pending.popleft()
                self._dropped_recorded += dropped
                self._pending_floor_s = 0
                self.health.queued = len(self._pending)
                self.health.written_back += len(held)
            self.health.reserve = await asyncio.to_thread(self.reserve.ensure)
            if not self.health.reserve:
                self.health.error = "the space reserve cannot be made again: the disk is still full"
                return False
            if self.health.state != "ok":
                log.warning("storage is back: %d held decisions written in order, %d dropped while the "
                            "queue was full", self.health.written_back, self.health.dropped)
            self.health.state, self.health.error = "ok", None
            return True

    async def records(self, after_seq: int = 0, limit: int = 1000) -> list[ScanRecord]:
        """Records with ``seq > after_seq`` in sequence order, at most ``limit``."""
        async with self._conn.execute(
            f"SELECT {_SCAN_COLUMNS} FROM scans WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
        ) as cur:
            return [_row_to_record(r, self.epoch) for r in await cur.fetchall()]

    async def unsynced(self, limit: int = 500) -> list[ScanRecord]:
        """The oldest unsynced records in sequence order, at most ``limit`` (a sync batch)."""
        async with self._conn.execute(
            f"SELECT {_SCAN_COLUMNS} FROM scans WHERE synced = 0 ORDER BY seq LIMIT ?", (limit,)
        ) as cur:
            return [_row_to_record(r, self.epoch) for r in await cur.fetchall()]

    @_serialised
    async def mark_synced(self, up_to_seq: int) -> int:
        """Mark every record with ``seq ≤ up_to_seq`` as acknowledged; returns how many changed."""
        cur = await self._conn.execute(
            "UPDATE scans SET synced = 1 WHERE seq <= ? AND synced = 0", (up_to_seq,)
        )
        await self._conn.commit()
        return cur.rowcount

    @_serialised
    async def purge_synced(self, older_than_s: float, now_ms: int) -> int:
        """Delete synced records decided more than ``older_than_s`` seconds before ``now_ms``
        (retention). The newest record is always kept so the chain continues. Returns how many."""
        cutoff_ms = now_ms - int(older_than_s * 1000)
        async with self._conn.execute(
            "SELECT seq, hash FROM scans WHERE synced = 1 AND at_ms < ? AND seq < ? "
            "ORDER BY seq DESC LIMIT 1",
            (cutoff_ms, self._last_seq),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return 0
        await self._set_meta("purged_seq", int(row[0]))
        await self._set_meta("purged_hash", str(row[1]))
        cur2 = await self._conn.execute(
            "DELETE FROM scans WHERE synced = 1 AND seq <= ?", (int(row[0]),)
        )
        await self._conn.commit()
        return cur2.rowcount

    async def stats(self) -> StoreStats:
        """Queue depth and the oldest unsynced decision (for status and heartbeat)."""
        async with self._conn.execute(
            "SELECT COUNT(*), MIN(at_ms) FROM scans WHERE synced = 0"
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        oldest = None if row[1] is None else int(row[1])
        if oldest is None and self._pending:
            oldest = self._pending[0].at_ms
        return StoreStats(self._last_seq, int(row[0]) + len(self._pending), oldest)

    async def check_integrity(self) -> list[str]:
        """Check the local chain; returns a description of every break (empty: intact)."""
        prev_hash = await self._meta("purged_hash")
        prev_seq = await self._meta("purged_seq")
        docs: list[dict[str, Any]] = []
        after = 0
        while True:
            batch = await self.records(after, 1000)
            if not batch:
                break
            docs.extend(r.to_json() for r in batch)
            after = batch[-1].seq
        start_hash = prev_hash if prev_hash is not None else GENESIS_HASH
        start_seq = int(prev_seq) if prev_seq is not None else 0
        return [f"seq {b.seq}: {b.kind}" for b in verify_chain(docs, start_hash, start_seq)]
