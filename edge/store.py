"""The node's own SQLite database (WAL): scan log, trust data, trusted time. All node SQL is here.

One :class:`NodeStore` per node process; its single aiosqlite connection is the only write
path (statements run in aiosqlite's thread, never on the event loop). Besides the tables the
store keeps the verified trust data in memory (:attr:`trust_bundle`, :attr:`revocations`,
:attr:`policies`), so a door decision reads no SQL; every method that changes trust data
verifies it, writes it and swaps the in-memory view in one step.

Methods the sync component uses (ARCHITECTURE §8): :meth:`unsynced`, :meth:`mark_synced`,
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
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import aiosqlite

from edge.bundle import BundleDocs
from edge.scanlog import GENESIS_HASH, ScanRecord, seal, verify_chain
from edge.storage_health import SpaceReserve, StorageHealth, storage_fault_kind
from shared.errors import CampusPassError
from shared.policy import PolicySet, parse_policy_document, verify_policy_document
from shared.revocation import RevocationEntry, RevocationSet, verify_delta
from shared.signed_doc import require
from shared.trust import TrustBundle

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT PRIMARY KEY CHECK (kind IN ('trust_bundle', 'policy')),
    version INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
    version INTEGER NOT NULL,
    entry TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS revocations_expires ON revocations (expires_at);
CREATE TABLE IF NOT EXISTS scans (
    seq INTEGER PRIMARY KEY,
    scan_id TEXT NOT NULL UNIQUE,
    node_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    mono_ms INTEGER NOT NULL,
    clock_trusted INTEGER NOT NULL,
    serial TEXT,
    subject TEXT,
    text_sha256 TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    direction TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    synced INTEGER NOT NULL DEFAULT 0
);
-- The sync queue: unsynced() and mark_synced() stay O(batch) however many synced records are kept.
CREATE INDEX IF NOT EXISTS scans_unsynced ON scans (seq) WHERE synced = 0;
CREATE TRIGGER IF NOT EXISTS scans_append_only BEFORE UPDATE OF
    seq, scan_id, node_id, at_ms, mono_ms, clock_trusted, serial, subject, text_sha256,
    verdict, reason, direction, prev_hash, hash ON scans
BEGIN SELECT RAISE(ABORT, 'scan log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS scans_keep_unsynced BEFORE DELETE ON scans WHEN OLD.synced = 0
BEGIN SELECT RAISE(ABORT, 'unsynced scans cannot be deleted'); END;
"""

_SCAN_COLUMNS = (
    "seq, scan_id, node_id, at_ms, mono_ms, clock_trusted, serial, subject, text_sha256, "
    "verdict, reason, direction, prev_hash, hash"
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
                kind = storage_fault_kind(exc)
                if kind is None:
                    raise
                await self._rollback()
                await self._note_fault(kind, exc)
                raise StoreError(f"the node database cannot be written ({kind}): {exc}",
                                 code="storage_fault") from exc

    return wrapper


log = logging.getLogger(__name__)

Connect = Callable[[str], aiosqlite.Connection]
"""Opens the SQLite connection (default ``aiosqlite.connect``): the storage seam of tests."""


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


def _row_to_record(row: Any) -> ScanRecord:
    return ScanRecord(
        seq=row[0], scan_id=row[1], node_id=row[2], at_ms=row[3], mono_ms=row[4],
        clock_trusted=bool(row[5]), serial=row[6], subject=row[7], text_sha256=row[8],
        verdict=row[9], reason=row[10], direction=row[11], prev_hash=row[12], hash=row[13],
    )


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
        self._last_seq = 0
        self._last_hash = GENESIS_HASH
        self._pending_floor_s = 0
        self._dropped_recorded = 0
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, root_public: bytes, *, synchronous: str = "FULL",
                   reserve_bytes: int = 0, queue_max: int = 5000, connect: Connect = aiosqlite.connect,
                   ) -> NodeStore:
        """Open (creating) the database at ``path`` with the pinned root key (32 bytes).

        ``synchronous`` is SQLite's durability setting: ``FULL`` (default: a decision is on disk
        before its light shows) or ``OFF`` for tests and benchmarks that fill a log quickly.
        ``reserve_bytes``: the space reserve next to the database (``<path>.reserve``; 0: none);
        ``queue_max``: decisions held in memory during a storage fault (``[storage]``).
        ``connect`` opens the SQLite connection (tests pass one that limits its size).

        Raises:
            StoreError: code ``root_mismatch`` when the database was seeded under another root;
                ``bad_database`` when the folder or file cannot be opened or is not a node
                database (corrupt, or not SQLite).
            ValueError: ``synchronous`` is not FULL, NORMAL or OFF.
        """
        if synchronous not in ("FULL", "NORMAL", "OFF"):
            raise ValueError(f"synchronous = {synchronous!r}; expected FULL, NORMAL or OFF")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = await connect(str(path))
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the node database {path}: {exc}", code="bad_database") from None
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute(f"PRAGMA synchronous={synchronous}")
            await conn.executescript(SCHEMA)
            await conn.commit()
            reserve = SpaceReserve(path.with_name(path.name + ".reserve"), reserve_bytes)
            store = cls(conn, root_public, reserve=reserve, queue_max=queue_max)
            await store._load()
            store.health.reserve = await asyncio.to_thread(reserve.ensure)
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise StoreError(f"the node database {path} is unusable: {exc}", code="bad_database") from None
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
            kind = storage_fault_kind(exc)
            if kind is None:
                raise
            await self._rollback()
            await self._note_fault(kind, exc)
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
            f"INSERT INTO scans ({_SCAN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(
                r.seq, r.scan_id, r.node_id, r.at_ms, r.mono_ms, int(r.clock_trusted), r.serial, r.subject,
                r.text_sha256, r.verdict, r.reason, r.direction, r.prev_hash, r.hash,
            ) for r in records],
        )

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error, OSError, ValueError):
            await self._conn.rollback()

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
            return [_row_to_record(r) for r in await cur.fetchall()]

    async def unsynced(self, limit: int = 500) -> list[ScanRecord]:
        """The oldest unsynced records in sequence order, at most ``limit`` (a sync batch)."""
        async with self._conn.execute(
            f"SELECT {_SCAN_COLUMNS} FROM scans WHERE synced = 0 ORDER BY seq LIMIT ?", (limit,)
        ) as cur:
            return [_row_to_record(r) for r in await cur.fetchall()]

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
