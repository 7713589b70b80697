"""Uploaded door scans, the per-node sync log and anomalies (SQL only here).

The sync service (:mod:`server.sync`) runs one upload as one transaction on the single write
path, calling the static methods below with the transaction's connection:
:meth:`ScanLog.head` → :meth:`ScanLog.insert` (``INSERT ... ON CONFLICT (scan_id) DO NOTHING``,
so a retried batch adds nothing) → :meth:`ScanLog.accepted_of_subjects` →
:meth:`ScanLog.add_anomalies` → :meth:`ScanLog.finish_sync` (new head, heartbeat, sync-log row).
Reads for the admin pages are instance methods.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from server.storage.database import Database

INSERT_SQL = (
    "INSERT INTO scans (scan_id, node_id, seq, building, direction, at_ms, clock_trusted, serial, subject,"
    " text_sha256, verdict, reason, hash, received_at, chain_epoch, trust_stale, node_at_ms, admitted_revoked)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT DO NOTHING"
)
"""One scan row: ``(scan_id, node_id, seq, building, direction, at_ms, clock_trusted, serial BLOB|None,
subject BLOB|None, text_sha256, verdict, reason, hash, received_at_s, chain_epoch, trust_stale,
node_at_ms, admitted_revoked)``; ``at_ms`` is the scan's time on the server's clock (corrected for the
node's measured skew), ``node_at_ms`` the node's own time. A row whose ``scan_id``, or whose node,
epoch and sequence number, is already stored is skipped: one sequence number of a node never names
two records."""

INSERT_LINKED_SQL = INSERT_SQL.replace(" admitted_revoked)", " admitted_revoked, prev_at, prev_entry)").replace(
    "?,?)", "?,?,?,?)")
""":data:`INSERT_SQL` with the scan's link (``prev_at``, ``prev_entry``: :mod:`server.storage.links`) after the row."""

ScanRow = tuple[str, str, int, str, str, int, int, bytes | None, bytes | None, str, str, str, str, int, int, int,
                int, int]
ScanRowEpoch0 = tuple[str, str, int, str, str, int, int, bytes | None, bytes | None, str, str, str, str, int]
"""A scan row of the first 14 members only: chain epoch 0, no flags, the node's time uncorrected."""

_ROW_DEFAULTS = (0, 0, None, 0)  # chain_epoch, trust_stale, node_at_ms (set to at_ms), admitted_revoked


def _full_row(r: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(r) == 18:
        return r
    full = (*r, *_ROW_DEFAULTS[len(r) - 14:])
    return full[:16] + (full[5] if full[16] is None else full[16], full[17])


ANOMALY_KINDS: tuple[str, ...] = ("chain_gap", "bad_link", "bad_hash", "clock_skew", "impossible_travel",
                                  "chain_epoch", "old_epoch", "seq_conflict", "admitted_revoked")
"""Every kind of stored anomaly (:class:`Anomaly`); the admin pages show each in words (``anomaly_kind``
of the text catalogue)."""


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something admins should look at.

    Attributes:
        node_id: the node concerned.
        kind: ``chain_gap``, ``bad_link``, ``bad_hash``, ``clock_skew``, ``impossible_travel``,
            ``chain_epoch`` (the node's database was replaced: records after ``seq_from`` of the
            old epoch are lost), ``old_epoch`` (records of an epoch already closed, not stored),
            ``seq_conflict`` (a different record under a sequence number already held, not stored),
            ``admitted_revoked`` (an accept of a pass revoked before the scan's time: the door was
            offline; ``seq_from`` = ``seq_to`` = the record)
            (``silent`` is computed on reading, never stored).
        at_s: when it was detected, Unix seconds.
        seq_from, seq_to: the sequence range concerned (chain anomalies), else None.
        detail: a sentence for the admin.
    """

    node_id: str
    kind: str
    at_s: int
    seq_from: int | None = None
    seq_to: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SyncLogRow:
    """One sync request of a node as the sync log shows it (times Unix seconds)."""

    at_s: int
    received: int
    inserted: int
    duplicates: int
    acked_seq: int
    gaps: int
    errors: str
    clock_skew_s: float | None
    queue_depth: int | None
    heartbeat: dict[str, Any]
    id: int = 0  # the row's id once stored (paging key)


@dataclass(frozen=True, slots=True)
class ScanView:
    """One stored scan with the person (when the query resolved it).

    Attributes:
        at_ms: the scan's time on the server's clock (Unix ms): the node's time corrected for
            the clock skew measured at its upload; the scan log is ordered by it.
        node_at_ms: the time the node's clock gave (Unix ms).
        clock_trusted: False when the node did not believe its clock (``node_at_ms`` is then
            its estimate from the server's last time).
        trust_stale: admitted on trust data older than the node's bound (``fail_mode = open``).
        admitted_revoked: an accept of a pass revoked on the server before the scan's time.
        repeat_of: the scan id of the earlier entry of the same person this entry repeats
            (within ``[sync] repeat_window_s``), else None.
    """

    scan_id: str
    node_id: str
    seq: int
    building: str
    direction: str
    at_ms: int
    clock_trusted: bool
    serial: str | None
    verdict: str
    reason: str
    person_number: str | None
    person_name: str | None
    person_department: str | None
    trust_stale: bool = False
    node_at_ms: int = 0
    admitted_revoked: bool = False
    repeat_of: str | None = None


_FLAGS = {"revoked": "s.admitted_revoked = 1", "repeated": "s.repeat_of IS NOT NULL"}
"""The scan log's flag filters (each matches a partial index of migration 0033)."""


class ScanLog:
    """Repository of scans, sync log and anomalies."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- the upload transaction (static: they take the transaction's connection) ---------

    @staticmethod
    async def head(conn: aiosqlite.Connection, node_id: str) -> tuple[int, int, str]:
        """``(acked_epoch, acked_seq, acked_hash)`` of the node, read inside the upload transaction."""
        async with conn.execute("SELECT acked_epoch, acked_seq, acked_hash FROM nodes WHERE id = ?",
                                (node_id,)) as cur:
            row = await cur.fetchone()
        assert row is not None, node_id
        return int(row[0]), int(row[1]), str(row[2])

    @staticmethod
    async def stored_hashes(conn: aiosqlite.Connection, node_id: str, epoch: int, seqs: Sequence[int]
                            ) -> dict[int, str]:
        """``{seq: hash}`` of the node's stored records of ``epoch`` among ``seqs``."""
        out: dict[int, str] = {}
        unique = sorted(set(seqs))
        for i in range(0, len(unique), 500):
            chunk = unique[i:i + 500]
            async with conn.execute(
                "SELECT seq, hash FROM scans WHERE node_id = ? AND chain_epoch = ?"
                f" AND seq IN ({','.join('?' * len(chunk))})", (node_id, epoch, *chunk),
            ) as cur:
                out.update({int(r[0]): str(r[1]) for r in await cur.fetchall()})
        return out

    @staticmethod
    async def insert(conn: aiosqlite.Connection, rows: Sequence[ScanRow | ScanRowEpoch0 | tuple[Any, ...]],
                     links: dict[str, tuple[int | None, int | None]] | None = None) -> int:
        """Insert scans (:data:`ScanRow`; a shorter row of 14 or 16 members takes the defaults of
        the rest), skipping scan ids (or node, epoch and seq) already stored; returns how many
        were new. ``links``: ``{scan_id: (prev_at, prev_entry)}`` of the new accepted scans
        (:meth:`server.storage.presence.PresenceStore.link_new_scans`); without it the scans are
        stored unlinked (bulk loads, which relink afterwards)."""
        if not rows:
            return 0
        before = conn.total_changes
        if links is None:
            await conn.executemany(INSERT_SQL, [_full_row(r) for r in rows])
        else:
            await conn.executemany(INSERT_LINKED_SQL, [(*_full_row(r), *links.get(r[0], (None, None))) for r in rows])
        return conn.total_changes - before

    @staticmethod
    async def accepted_of_subjects(
        conn: aiosqlite.Connection, subjects: Sequence[bytes], from_ms: int, to_ms: int
    ) -> list[tuple[str, bytes, str, int, str, str, str | None]]:
        """Accepted scans of these pass subjects in ``[from_ms, to_ms]`` (server time):
        ``(scan_id, subject, building, at_ms, node_id, direction, repeat_of)``."""
        out: list[tuple[str, bytes, str, int, str, str, str | None]] = []
        unique = sorted(set(subjects))
        for i in range(0, len(unique), 500):
            chunk = unique[i:i + 500]
            async with conn.execute(
                "SELECT scan_id, subject, building, at_ms, node_id, direction, repeat_of FROM scans"
                f" WHERE subject IN ({','.join('?' * len(chunk))}) AND at_ms BETWEEN ? AND ? AND verdict = 'accept'",
                (*chunk, from_ms, to_ms),
            ) as cur:
                out.extend((r[0], bytes(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in await cur.fetchall())
        return out

    @staticmethod
    async def set_repeat_of(conn: aiosqlite.Connection, changes: dict[str, str | None]) -> None:
        """Store ``{scan_id: the scan id it repeats, or None}``."""
        if changes:
            await conn.executemany("UPDATE scans SET repeat_of = ? WHERE scan_id = ?",
                                   [(v, k) for k, v in changes.items()])

    @staticmethod
    async def revocations_of(conn: aiosqlite.Connection, serials: Sequence[bytes], subjects: Sequence[bytes]
                             ) -> list[tuple[int, int, bytes | None, bytes | None, int | None]]:
        """Revocation list entries (expired ones the list still keeps included) naming one of these
        serials or subjects: ``(version, created_at_s, serial, subject, before_at_s)``."""
        out: list[tuple[int, int, bytes | None, bytes | None, int | None]] = []
        for column, values in (("serial", sorted(set(serials))), ("subject", sorted(set(subjects)))):
            for i in range(0, len(values), 500):
                chunk = values[i:i + 500]
                async with conn.execute(
                    "SELECT version, created_at, serial, subject, before_at FROM revocations"
                    f" WHERE {column} IN ({','.join('?' * len(chunk))})", chunk,
                ) as cur:
                    out.extend((int(r[0]), int(r[1]), None if r[2] is None else bytes(r[2]),
                                None if r[3] is None else bytes(r[3]), r[4]) for r in await cur.fetchall())
        return out

    @staticmethod
    async def valid_from_of(conn: aiosqlite.Connection, serials: Sequence[bytes]) -> dict[bytes, int]:
        """``{serial: valid_from_s}`` of the issued passes among ``serials`` the server has a record of."""
        out: dict[bytes, int] = {}
        unique = sorted(set(serials))
        for i in range(0, len(unique), 500):
            chunk = unique[i:i + 500]
            async with conn.execute(
                f"SELECT serial, valid_from FROM passes WHERE serial IN ({','.join('?' * len(chunk))})", chunk,
            ) as cur:
                out.update({bytes(r[0]): int(r[1]) for r in await cur.fetchall()})
        return out

    @staticmethod
    async def add_anomalies(conn: aiosqlite.Connection, anomalies: Sequence[Anomaly]) -> None:
        """Store anomalies."""
        if anomalies:
            await conn.executemany(
                "INSERT INTO node_anomalies (node_id, kind, at, seq_from, seq_to, detail) VALUES (?,?,?,?,?,?)",
                [(a.node_id, a.kind, a.at_s, a.seq_from, a.seq_to, a.detail) for a in anomalies],
            )

    @staticmethod
    async def last_anomaly_at(conn: aiosqlite.Connection, node_id: str, kind: str) -> int | None:
        """When the newest anomaly of ``kind`` was recorded for the node (None: never)."""
        async with conn.execute(
            "SELECT MAX(at) FROM node_anomalies WHERE node_id = ? AND kind = ?", (node_id, kind)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @staticmethod
    async def finish_sync(
        conn: aiosqlite.Connection, node_id: str, *, now_s: int, acked_seq: int, acked_hash: str,
        heartbeat: dict[str, Any], clock_skew_s: float | None, log: SyncLogRow, acked_epoch: int = 0,
    ) -> None:
        """Move the node's head, store its latest heartbeat and append the sync-log row."""
        hb_json = json.dumps(heartbeat, sort_keys=True)
        oldest_ms = heartbeat.get("oldest_unsynced_at_ms")
        await conn.execute(
            "UPDATE nodes SET last_seen_at = ?, acked_epoch = ?, acked_seq = ?, acked_hash = ?, software_version = ?,"
            " trust_version = ?, revocation_version = ?, policy_version = ?, queue_depth = ?,"
            " oldest_unsynced_at = ?, clock_skew_s = ?, heartbeat = ? WHERE id = ?",
            (now_s, acked_epoch, acked_seq, acked_hash, str(heartbeat.get("software_version", "")),
             heartbeat.get("trust_version"), heartbeat.get("revocation_version"), heartbeat.get("policy_version"),
             heartbeat.get("queue_depth"), None if oldest_ms is None else int(oldest_ms) // 1000,
             clock_skew_s, hb_json, node_id),
        )
        await ScanLog.log_sync(conn, node_id, log)

    @staticmethod
    async def logged_since(conn: aiosqlite.Connection, node_id: str, errors: str, since_s: int) -> bool:
        """Whether the node has a sync-log row with exactly these ``errors`` at or after ``since_s``."""
        async with conn.execute(
            "SELECT 1 FROM sync_log WHERE node_id = ? AND at >= ? AND errors = ? LIMIT 1", (node_id, since_s, errors)
        ) as cur:
            return await cur.fetchone() is not None

    @staticmethod
    async def log_sync(conn: aiosqlite.Connection, node_id: str, log: SyncLogRow) -> None:
        """Append one sync-log row (also used for refused requests of a known node)."""
        await conn.execute(
            "INSERT INTO sync_log (node_id, at, received, inserted, duplicates, acked_seq, gaps, errors,"
            " clock_skew_s, queue_depth, heartbeat) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (node_id, log.at_s, log.received, log.inserted, log.duplicates, log.acked_seq, log.gaps, log.errors,
             log.clock_skew_s, log.queue_depth, json.dumps(log.heartbeat, sort_keys=True)),
        )

    # ---- reads ------------------------------------------------------------------------------

    async def count(self, node_id: str | None = None) -> int:
        """Number of stored scans (of one node when given)."""
        if node_id is None:
            row = await self.db.fetch_one("SELECT COUNT(*) FROM scans")
        else:
            row = await self.db.fetch_one("SELECT COUNT(*) FROM scans WHERE node_id = ?", (node_id,))
        return int(row[0]) if row else 0

    async def sync_log(self, node_id: str, limit: int = 200, *, before_id: int | None = None,
                       only: str | None = None) -> list[SyncLogRow]:
        """The node's sync-log rows, newest first.

        Args:
            limit: most rows returned.
            before_id: only rows older than this row id (the next page after a page whose
                last row had this id).
            only: ``"scans"`` (syncs that carried records), ``"problems"`` (gaps or errors), or
                None for every sync, heartbeats included.
        """
        where: list[str] = ["node_id = ?"]
        params: list[Any] = [node_id]
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if only == "scans":
            where.append("received > 0")
        elif only == "problems":
            where.append("(gaps > 0 OR errors != '')")
        rows = await self.db.fetch_all(
            "SELECT at, received, inserted, duplicates, acked_seq, gaps, errors, clock_skew_s, queue_depth,"
            f" heartbeat, id FROM sync_log WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*params, limit))
        return [SyncLogRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9]), r[10])
                for r in rows]

    async def anomalies(self, node_id: str | None = None, limit: int = 200) -> list[Anomaly]:
        """Stored anomalies, newest first (of one node when given)."""
        if node_id is None:
            rows = await self.db.fetch_all(
                "SELECT node_id, kind, at, seq_from, seq_to, detail FROM node_anomalies ORDER BY id DESC LIMIT ?",
                (limit,))
        else:
            rows = await self.db.fetch_all(
                "SELECT node_id, kind, at, seq_from, seq_to, detail FROM node_anomalies WHERE node_id = ?"
                " ORDER BY id DESC LIMIT ?", (node_id, limit))
        return [Anomaly(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    async def anomaly_counts(self) -> dict[str, int]:
        """``{node_id: stored anomalies}``."""
        rows = await self.db.fetch_all("SELECT node_id, COUNT(*) FROM node_anomalies GROUP BY node_id")
        return {r[0]: int(r[1]) for r in rows}

    async def search(
        self, *, building: str | None = None, from_ms: int | None = None, to_ms: int | None = None,
        verdict: str | None = None, subject: bytes | None = None, departments: Sequence[str] | None = None,
        with_person: bool = True, limit: int = 1000, before_id: int | None = None,
        node_id: str | None = None, received_at_s: int | None = None, flag: str | None = None,
    ) -> list[ScanView]:
        """Scans matching every given filter, newest first.

        Args:
            building, verdict, subject: equality filters (subject: 8 bytes).
            from_ms, to_ms: decision time range, Unix milliseconds, inclusive.
            departments: only scans of people in these departments (a counsellor's scope).
            with_person: resolve the pass subject to the person (number, name, department).
            limit: most rows returned.
            node_id, received_at_s: only scans of this node / received by the server in this
                second (the scans of one sync, as the sync log shows it).
            flag: ``revoked`` (admitted while revoked), ``repeated`` (repeated entries) or None.
        """
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("s.building", building), ("s.verdict", verdict), ("s.subject", subject),
                              ("s.node_id", node_id), ("s.received_at", received_at_s)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if from_ms is not None:
            where.append("s.at_ms >= ?")
            params.append(from_ms)
        if to_ms is not None:
            where.append("s.at_ms <= ?")
            params.append(to_ms)
        if before_id is not None:
            where.append("s.id < ?")
            params.append(before_id)
        if flag is not None:
            where.append(_FLAGS[flag])
        join = with_person or departments is not None
        if departments is not None:
            where.append(f"p.department IN ({','.join('?' * len(departments))})" if departments else "0")
            params.extend(departments)
        person_cols = "p.number, p.name, p.department" if join else "NULL, NULL, NULL"
        sql = (
            "SELECT s.scan_id, s.node_id, s.seq, s.building, s.direction, s.at_ms, s.clock_trusted, s.serial,"
            f" s.verdict, s.reason, {person_cols}, s.trust_stale, COALESCE(s.node_at_ms, s.at_ms),"
            " s.admitted_revoked, s.repeat_of FROM scans s"
            + (" LEFT JOIN people p ON p.subject = s.subject" if join else "")
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY s.at_ms DESC, s.id DESC LIMIT ?"
        )
        params.append(limit)
        rows = await self.db.fetch_all(sql, params)
        return [
            ScanView(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), None if r[7] is None else bytes(r[7]).hex(),
                     r[8], r[9], r[10], r[11], r[12], bool(r[13]), int(r[14]), bool(r[15]), r[16])
            for r in rows
        ]
