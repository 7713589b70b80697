"""The server side of node sync (docs/architecture.md §8; wire format in docs/sync-protocol.md).

One sync request = heartbeat + a batch of hash-chained scan records (possibly none). The
upload is stored in one transaction: scans idempotently by ``scan_id``; the node's head (the
highest sequence held contiguously) moves along the chain; a gap, a broken link or an altered
record becomes an anomaly for admins and never stops the rest of the batch (a gap cannot be
refilled: the node no longer has those records, so the head moves past a recorded gap). The
answer carries the acknowledged sequence, the server time and every document newer than the
node's: trust bundle, revocation delta since its version, building policy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from server.config import SyncServerConfig
from server.datadir import DataDir
from server.passes import signed_revocation_delta
from server.policy import signed_policy_document
from server.scan_flags import (
    Admission,
    RevocationFact,
    corrected_at_ms,
    repeated_entries,
    revoked_when_admitted,
)
from server.storage.buildings import Buildings
from server.storage.database import Database
from server.storage.nodes import NodeRow
from server.storage.passes import Passes
from server.storage.scans import Anomaly, ScanLog, ScanRow, SyncLogRow
from shared.config import bounds
from shared.errors import CampusPassError
from shared.scanlog import GENESIS_HASH, record_hash

_MAX_INT = 2**53
_RECORD_TYPES: dict[str, type | tuple[type, ...]] = {
    "seq": int, "scan_id": str, "node_id": str, "at_ms": int, "mono_ms": int, "clock_trusted": bool,
    "text_sha256": str, "verdict": str, "reason": str, "direction": str, "prev_hash": str, "hash": str,
}
_OPTIONAL_HEX = ("serial", "subject")
_HEX64_FIELDS = ("text_sha256", "prev_hash", "hash")
_REASON = re.compile(r"^[a-z_]{1,32}$")

SYNC_MAX_BODY_BYTES = 2 * 1024 * 1024
"""Largest sync request body accepted, decoded (413 ``body_too_large`` beyond)."""


class SyncError(CampusPassError):
    """A sync request body is unusable (422). Codes: ``bad_record``, ``batch_too_large``."""

    code = "bad_record"


@dataclass(frozen=True)
class Heartbeat:
    """What a node reports with every sync request.

    Attributes:
        node_time_ms: the node's own clock when it built the request (Unix ms; the server
            compares it with its clock: the skew).
        queue_depth: records not yet acknowledged.
        oldest_unsynced_at_ms: decision time of the oldest of them (None: none).
        clock_offset_s: last offset the node measured (server − node, seconds; None: never).
        software_version: the node's campuspass version.
        trust_version, revocation_version, policy_version: versions of the documents it holds.
        camera: camera health (``ok``, ``starting``, ``down``, ``ended``).
        decoder: decoder name in use.
        uptime_s: seconds since the node process started.
        clock_trusted: whether the node's clock is at or above its trusted lower bound.
        storage: the node database's disk (``ok``; ``fault``: decisions held in memory).
        storage_queued: decisions held in the node's memory, not yet on its disk.
        storage_dropped: scans the node denied unrecorded because that memory was full.
        bad_answers: sync answers the node ignored since it started because they did not verify
            (forged or damaged on the way: docs/security.md).
        chain_epoch: the chain epoch of the node's database (0 for its first; a node whose
            database was replaced starts the next epoch at seq 1).
    """

    node_time_ms: int = field(metadata=bounds(minimum=0, maximum=_MAX_INT))
    queue_depth: int = field(metadata=bounds(minimum=0, maximum=_MAX_INT))
    software_version: str = field(metadata=bounds(max_length=64))
    trust_version: int = field(metadata=bounds(minimum=0, maximum=2**31 - 1))
    revocation_version: int = field(metadata=bounds(minimum=0, maximum=2**31 - 1))
    policy_version: int = field(metadata=bounds(minimum=0, maximum=2**31 - 1))
    oldest_unsynced_at_ms: int | None = field(default=None, metadata=bounds(minimum=0, maximum=_MAX_INT))
    clock_offset_s: float | None = field(default=None, metadata=bounds(minimum=-1e10, maximum=1e10))
    camera: str = field(default="", metadata=bounds(max_length=32))
    decoder: str = field(default="", metadata=bounds(max_length=32))
    uptime_s: float = field(default=0.0, metadata=bounds(minimum=0, maximum=1e10))
    clock_trusted: bool = True
    storage: str = field(default="ok", metadata=bounds(max_length=32))
    storage_queued: int = field(default=0, metadata=bounds(minimum=0, maximum=_MAX_INT))
    storage_dropped: int = field(default=0, metadata=bounds(minimum=0, maximum=_MAX_INT))
    bad_answers: int = field(default=0, metadata=bounds(minimum=0, maximum=_MAX_INT))
    chain_epoch: int = field(default=0, metadata=bounds(minimum=0, maximum=2**31 - 1))


@dataclass(frozen=True)
class SyncRequestDoc:
    """The body of ``POST /api/v1/nodes/{node_id}/sync`` (records: ``ScanRecord.to_json`` objects;
    ``documents`` false: the node does not want documents in this answer, e.g. mid-way through a
    catch-up)."""

    heartbeat: Heartbeat
    records: list[dict[str, Any]]
    documents: bool = True


@dataclass(frozen=True)
class Gap:
    """Sequence numbers ``from_seq..to_seq`` never received (deleted on the node)."""

    from_seq: int
    to_seq: int


@dataclass(frozen=True)
class AnswerBinding:
    """The request a sync answer belongs to (its node, nonce and body hash)."""

    node_id: str
    nonce: str
    body_sha256: str


@dataclass(frozen=True)
class SyncAnswer:
    """The answer to a sync request, signed as a whole (:mod:`shared.sync_answer`).

    Attributes:
        ack_seq: every record with ``seq ≤ ack_seq`` is held (or recorded as a gap): the node
            marks them synced.
        received, inserted, duplicates: records in the batch / newly stored / already held.
        gaps: gaps found in this batch.
        server_time_ms: the server clock when answering (Unix ms).
        trust_bundle, revocations, policy: documents newer than the node's, else None.
        key_id, request, signature: added by :func:`shared.sync_answer.sign_answer`: the issuer
            key that signed, the request answered, the Ed25519 signature over the rest.
    """

    ack_seq: int
    received: int
    inserted: int
    duplicates: int
    gaps: list[Gap]
    server_time_ms: int
    trust_bundle: dict[str, Any] | None = None
    revocations: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    key_id: int = 0
    request: AnswerBinding | None = None
    signature: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON answer before signing (without ``key_id``, ``request``, ``signature``)."""
        doc = asdict(self)
        for name in ("key_id", "request", "signature"):
            del doc[name]
        return doc


def check_records(records: list[Any], node_id: str, max_batch: int) -> list[dict[str, Any]]:
    """Check the shape of every record (hashes are checked by :func:`walk_chain`).

    Raises:
        SyncError: ``batch_too_large``, or ``bad_record`` naming the record index and member.
    """
    if len(records) > max_batch:
        raise SyncError(f"batch of {len(records)} records; at most {max_batch}", code="batch_too_large")
    for i, rec in enumerate(records):
        if _well_formed(rec, node_id):
            continue
        if not isinstance(rec, dict):
            raise SyncError(f"records[{i}] is {type(rec).__name__}; expected an object")
        for name, kind in _RECORD_TYPES.items():
            value = rec.get(name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise SyncError(f"records[{i}].{name} = {value!r}; expected {getattr(kind, '__name__', kind)}")
        for name in _OPTIONAL_HEX:
            value = rec.get(name)
            if value is not None and (not isinstance(value, str) or len(value) != 16
                                      or not _HEX16.issuperset(value)):
                raise SyncError(f"records[{i}].{name} = {value!r}; expected 16 lowercase hex digits or null")
        if rec["node_id"] != node_id:
            raise SyncError(f"records[{i}].node_id = {rec['node_id']!r}; this request is signed by {node_id}")
        if rec["verdict"] not in ("accept", "deny") or rec["direction"] not in ("entry", "exit"):
            raise SyncError(f"records[{i}]: verdict {rec['verdict']!r} / direction {rec['direction']!r} unknown")
        if not 1 <= rec["seq"] < _MAX_INT or len(rec["scan_id"]) != 36:
            raise SyncError(f"records[{i}]: seq {rec['seq']} / scan_id {rec['scan_id'][:40]!r} out of range")
        for name in ("at_ms", "mono_ms"):
            if not 0 <= rec[name] < _MAX_INT:
                raise SyncError(f"records[{i}].{name} = {rec[name]}; expected 0..2^53")
        for name in _HEX64_FIELDS:
            if len(rec[name]) != 64 or not _HEX16.issuperset(rec[name]):
                raise SyncError(f"records[{i}].{name} = {rec[name][:70]!r}; expected 64 lowercase hex digits")
        if not _REASON.match(rec["reason"]):
            raise SyncError(f"records[{i}].reason = {rec['reason'][:40]!r}; expected a reason code (a-z, _)")
        epoch = rec.get("epoch", 0)
        if type(epoch) is not int or not 0 <= epoch < 2**31:
            raise SyncError(f"records[{i}].epoch = {epoch!r}; expected an integer 0..2147483647")
        if type(rec.get("trust_stale", False)) is not bool:
            raise SyncError(f"records[{i}].trust_stale = {rec.get('trust_stale')!r}; expected true or false")
        raise SyncError(f"records[{i}] is not a scan record")
    return records


_HEX16 = frozenset("0123456789abcdef")


def _well_formed(rec: Any, node_id: str) -> bool:
    """The fast path of :func:`check_records` (exact types; a batch of 500 is checked often)."""
    try:  # exact types, unrolled: bool must not pass as int
        if not (type(rec["seq"]) is int and type(rec["scan_id"]) is str and type(rec["node_id"]) is str
                and type(rec["at_ms"]) is int and type(rec["mono_ms"]) is int
                and type(rec["clock_trusted"]) is bool and type(rec["text_sha256"]) is str
                and type(rec["verdict"]) is str and type(rec["reason"]) is str and type(rec["direction"]) is str
                and type(rec["prev_hash"]) is str and type(rec["hash"]) is str):
            return False
        serial, subject = rec["serial"], rec["subject"]
    except (KeyError, TypeError):
        return False
    epoch = rec.get("epoch", 0)
    return (
        type(epoch) is int and 0 <= epoch < 2**31 and type(rec.get("trust_stale", False)) is bool
        and (serial is None or (type(serial) is str and len(serial) == 16 and _HEX16.issuperset(serial)))
        and (subject is None or (type(subject) is str and len(subject) == 16 and _HEX16.issuperset(subject)))
        and rec["node_id"] == node_id and rec["verdict"] in ("accept", "deny")
        and rec["direction"] in ("entry", "exit") and 1 <= rec["seq"] < _MAX_INT and len(rec["scan_id"]) == 36
        and 0 <= rec["at_ms"] < _MAX_INT and 0 <= rec["mono_ms"] < _MAX_INT
        and len(rec["text_sha256"]) == 64 and len(rec["prev_hash"]) == 64 and len(rec["hash"]) == 64
        and _HEX16.issuperset(rec["text_sha256"]) and _HEX16.issuperset(rec["prev_hash"])
        and _HEX16.issuperset(rec["hash"]) and _REASON.match(rec["reason"]) is not None
    )


@dataclass(frozen=True)
class ChainHead:
    """Where the server holds a node's chain: epoch, the highest sequence held contiguously in
    it (recorded gaps count as held) and that record's hash."""

    epoch: int
    seq: int
    hash: str


def walk_chain(head: ChainHead, records: list[dict[str, Any]], node_id: str, now_s: int, node_epoch: int = 0
               ) -> tuple[ChainHead, list[Anomaly], list[dict[str, Any]]]:
    """Move the node's head along ``records`` (ascending epoch, then ``seq``).

    A node whose database was replaced starts a new chain epoch at seq 1: the first sign of it
    (a record of a higher epoch, or ``node_epoch`` from the heartbeat) records a
    ``chain_epoch`` anomaly naming the old epoch's lost tail, and the head moves to the new
    epoch. Records of an epoch below the head's are refused (``old_epoch``). Within the epoch,
    records at or below the head are retransmissions (stored only if new by scan id and
    sequence number: see :data:`server.storage.scans.INSERT_SQL`). A record above
    ``head + 1`` means the records between are gone: a ``chain_gap`` anomaly, and the head
    moves past it. A ``prev_hash`` that is not the head's hash is a ``bad_link``; a record whose
    hash does not match its content is ``bad_hash``.

    Returns ``(new head, anomalies, records to store)``.
    """
    anomalies: list[Anomaly] = []
    keep: list[dict[str, Any]] = []
    old_epoch_seen = False

    def new_epoch(epoch: int) -> ChainHead:
        anomalies.append(Anomaly(
            node_id, "chain_epoch", now_s, head.seq + 1, None,
            f"the node's database was replaced: chain epoch {head.epoch} ends at record {head.seq} "
            f"(any records of it after {head.seq} are lost); epoch {epoch} starts at record 1"))
        return ChainHead(epoch, 0, GENESIS_HASH)

    if node_epoch > head.epoch:
        head = new_epoch(node_epoch)
    for rec in records:
        epoch = rec.get("epoch", 0)
        if epoch < head.epoch:
            if not old_epoch_seen:
                anomalies.append(Anomaly(node_id, "old_epoch", now_s, rec["seq"], None,
                                         f"records of chain epoch {epoch} after epoch {head.epoch} began: "
                                         "not stored (an old copy of the node's database?)"))
                old_epoch_seen = True
            continue
        if epoch > head.epoch:
            head = new_epoch(epoch)
        keep.append(rec)
        seq = rec["seq"]
        if seq <= head.seq:
            continue
        if record_hash(rec) != rec["hash"]:
            anomalies.append(Anomaly(node_id, "bad_hash", now_s, seq, seq,
                                     f"record {seq} does not match its hash: altered on the node"))
        if seq > head.seq + 1:
            anomalies.append(Anomaly(node_id, "chain_gap", now_s, head.seq + 1, seq - 1,
                                     f"records {head.seq + 1}..{seq - 1} missing from the node's log"))
        elif rec["prev_hash"] != head.hash:
            anomalies.append(Anomaly(node_id, "bad_link", now_s, seq, seq,
                                     f"record {seq} does not link to record {head.seq}"))
        head = ChainHead(head.epoch, seq, rec["hash"])
    return head, anomalies, keep


def impossible_travel(
    new: list[tuple[str, bytes, str, int]], stored: Sequence[tuple[Any, ...]], node_id: str,
    travel_min_s: int, now_s: int,
) -> list[Anomaly]:
    """Accepted scans of the same person's pass at two buildings less than ``travel_min_s`` apart.

    Args:
        new: this batch's new accepted scans ``(scan_id, subject, building, at_ms)``.
        stored: accepted scans of those subjects around that time (including the new ones)
            ``(scan_id, subject, building, at_ms, node_id, ...)``.

    Each pair is reported once: by the later scan of the pair when both are new. The detail
    names scan ids, never the person.
    """
    by_subject: dict[bytes, list[tuple[Any, ...]]] = {}
    for row in stored:
        by_subject.setdefault(row[1], []).append(row)
    new_ids = {n[0] for n in new}
    out = []
    for scan_id, subject, building, at_ms in new:
        for other in by_subject.get(subject, ()):
            if other[0] == scan_id or other[2] == building:
                continue
            if abs(other[3] - at_ms) >= travel_min_s * 1000:
                continue
            if other[0] in new_ids and (other[3], other[0]) > (at_ms, scan_id):
                continue
            first, second = sorted([(other[3], other[2], other[0]), (at_ms, building, scan_id)])
            out.append(Anomaly(node_id, "impossible_travel", now_s, None, None,
                               f"the same person's pass accepted at {first[1]} and {second[1]} "
                               f"{abs(other[3] - at_ms) / 1000:.0f} s apart (minimum {travel_min_s} s); "
                               f"scans {first[2]}, {second[2]}"))
    return out


def _row(rec: dict[str, Any], building: str, now_s: int, skew_ms: int, min_skew_ms: int) -> ScanRow:
    serial, subject = rec.get("serial"), rec.get("subject")
    return (
        rec["scan_id"], rec["node_id"], rec["seq"], building, rec["direction"],
        corrected_at_ms(rec["at_ms"], rec["clock_trusted"], skew_ms, min_skew_ms),
        int(rec["clock_trusted"]), None if serial is None else bytes.fromhex(serial),
        None if subject is None else bytes.fromhex(subject), rec["text_sha256"], rec["verdict"], rec["reason"],
        rec["hash"], now_s, rec.get("epoch", 0), int(rec.get("trust_stale", False)), rec["at_ms"], 0,
    )


# ScanRow members used below
_ID: Final = 0
_SEQ: Final = 2
_AT: Final = 5
_SERIAL: Final = 7
_SUBJECT: Final = 8
_VERDICT: Final = 10
_EPOCH: Final = 14
_REVOKED: Final = 17


async def _flag_revoked(conn: Any, rows: list[ScanRow], node_id: str, now_s: int) -> tuple[list[ScanRow], list[Anomaly]]:
    """``rows`` with ``admitted_revoked`` set on accepts of passes revoked before their time, and
    an ``admitted_revoked`` anomaly for each (naming the scan and the record, never the person)."""
    accepts = [r for r in rows if r[_VERDICT] == "accept" and r[_SERIAL] is not None]
    if not accepts:
        return rows, []
    serials = [r[_SERIAL] for r in accepts if r[_SERIAL] is not None]
    raw = await ScanLog.revocations_of(conn, serials, [r[_SUBJECT] for r in accepts if r[_SUBJECT] is not None])
    if not raw:
        return rows, []
    facts = [RevocationFact(v, c, serial, subject, before) for v, c, serial, subject, before in raw]
    subjects_listed = {f.subject for f in facts if f.subject is not None}
    valid_from = await ScanLog.valid_from_of(
        conn, [r[_SERIAL] for r in accepts if r[_SERIAL] is not None and r[_SUBJECT] in subjects_listed])
    out, anomalies = [], []
    for r in rows:
        hit = None
        if r[_VERDICT] == "accept" and r[_SERIAL] is not None:
            hit = revoked_when_admitted(r[_AT], r[_SERIAL], r[_SUBJECT], valid_from.get(r[_SERIAL]), facts)
        if hit is None:
            out.append(r)
            continue
        out.append((*r[:_REVOKED], 1))
        what = "its serial" if hit.serial is not None else "every pass of its holder issued before then"
        anomalies.append(Anomaly(
            node_id, "admitted_revoked", now_s, r[_SEQ], r[_SEQ],
            f"scan {r[_ID]} admitted a pass {(r[_AT] // 1000) - hit.created_s} s after the server revoked "
            f"{what} (revocation list v{hit.version}); the door did not know it yet"))
    return out, anomalies


class SyncService:
    """Stores uploads and assembles the documents nodes download.

    Args:
        db: the server database.
        datadir: keys and trust bundle (signs revocation deltas and policy documents).
        config: the ``[sync]`` settings.
    """

    def __init__(self, db: Database, datadir: DataDir, config: SyncServerConfig) -> None:
        self.db = db
        self.datadir = datadir
        self.config = config

    async def upload(self, node: NodeRow, records: list[dict[str, Any]], heartbeat: Heartbeat, now_ms: int
                     ) -> tuple[int, int, list[Gap]]:
        """Store one batch and the heartbeat in one transaction.

        Args:
            node: the authenticated node.
            records: checked records (:func:`check_records`), any order.
            heartbeat: the node's heartbeat.
            now_ms: server time, Unix milliseconds.

        Returns:
            ``(ack_seq, inserted, gaps)``.

        Raises:
            ValueError: a serial or subject is not hex (the caller turns it into ``bad_record``).
        """
        now_s = now_ms // 1000
        records = sorted(records, key=lambda r: (r.get("epoch", 0), r["seq"]))
        skew_ms = now_ms - heartbeat.node_time_ms
        skew_s = skew_ms / 1000
        async with self.db.transaction() as conn:
            epoch, seq, hash_ = await ScanLog.head(conn, node.id)
            head, anomalies, keep = walk_chain(ChainHead(epoch, seq, hash_), records, node.id, now_s,
                                               heartbeat.chain_epoch)
            retransmitted = [r for r in keep if r["seq"] <= seq and r.get("epoch", 0) == epoch]
            if retransmitted:  # one sequence number never names two records
                held = await ScanLog.stored_hashes(conn, node.id, epoch, [r["seq"] for r in retransmitted])
                for r in retransmitted:
                    if held.get(r["seq"], r["hash"]) != r["hash"]:
                        anomalies.append(Anomaly(
                            node.id, "seq_conflict", now_s, r["seq"], r["seq"],
                            f"record {r['seq']} of epoch {epoch} differs from the one stored: not stored "
                            "(a node database restarted without a new epoch?)"))
                        keep.remove(r)
            min_skew_ms = self.config.skew_correct_min_s * 1000
            rows = [_row(r, node.building, now_s, skew_ms, min_skew_ms) for r in keep]
            # Flags are decided once, for records new to the server (past the head it held);
            # a retransmitted record is already stored with its flags.
            fresh = [r for r in rows if (r[_EPOCH], r[_SEQ]) > (epoch, seq)]
            fresh_ids = {r[_ID] for r in fresh}
            flagged, revoked = await _flag_revoked(conn, fresh, node.id, now_s)
            anomalies += revoked
            by_id = {r[_ID]: r for r in flagged}
            rows = [by_id.get(r[_ID], r) for r in rows]
            inserted = await ScanLog.insert(conn, rows)
            accepted = [(r[0], r[8], r[3], r[5]) for r in rows if r[10] == "accept" and r[8] is not None]
            if accepted:
                window_ms = max(self.config.travel_min_s, self.config.repeat_window_s) * 1000
                stored = await ScanLog.accepted_of_subjects(
                    conn, [a[1] for a in accepted], min(a[3] for a in accepted) - window_ms,
                    max(a[3] for a in accepted) + window_ms)
                anomalies += impossible_travel(accepted, stored, node.id, self.config.travel_min_s, now_s)  # type: ignore[arg-type]
                await ScanLog.set_repeat_of(conn, repeated_entries(
                    [Admission(s[0], s[1], s[3], s[5], s[6]) for s in stored], fresh_ids,
                    self.config.repeat_window_s * 1000))
            if abs(skew_s) > self.config.skew_bound_s:
                last = await ScanLog.last_anomaly_at(conn, node.id, "clock_skew")
                if last is None or now_s - last >= 3600:
                    anomalies.append(Anomaly(node.id, "clock_skew", now_s, None, None,
                                             f"node clock {skew_s:+.0f} s from server time "
                                             f"(bound ±{self.config.skew_bound_s} s)"))
            await ScanLog.add_anomalies(conn, anomalies)
            gaps = [Gap(a.seq_from or 0, a.seq_to or 0) for a in anomalies if a.kind == "chain_gap"]
            errors = "; ".join(f"{a.kind} {a.seq_from}..{a.seq_to if a.seq_to is not None else ''}"
                               for a in anomalies
                               if a.kind in ("chain_gap", "bad_link", "bad_hash", "chain_epoch", "old_epoch",
                                             "seq_conflict"))
            hb = asdict(heartbeat)
            # The acknowledgement is in the node's own epoch: a node still sending an older epoch
            # gets 0 (nothing of it is held), never a sequence number of another chain.
            ack = head.seq if heartbeat.chain_epoch == head.epoch else 0
            log = SyncLogRow(now_s, len(records), inserted, len(records) - inserted, head.seq, len(gaps), errors,
                             skew_s, heartbeat.queue_depth, hb)
            await ScanLog.finish_sync(conn, node.id, now_s=now_s, acked_seq=head.seq, acked_hash=head.hash,
                                      heartbeat=hb, clock_skew_s=skew_s, log=log, acked_epoch=head.epoch)
        return ack, inserted, gaps

    async def log_refusal(self, node_id: str, code: str, now_s: int) -> None:
        """Note a refused request of a known node in its sync log (errors column), at most once a
        minute per node and code: anyone can send refused requests, they must not fill the log."""
        errors = f"refused: {code}"
        async with self.db.transaction() as conn:
            if not await ScanLog.logged_since(conn, node_id, errors, now_s - 59):
                await ScanLog.log_sync(conn, node_id, SyncLogRow(now_s, 0, 0, 0, 0, 0, errors, None, None, {}))

    async def enrolment_documents(self, now_s: int) -> dict[str, dict[str, Any] | None]:
        """The documents a new node's bundle needs (trust bundle, revocations since 0, policy),
        as :meth:`documents` gives them to a node holding nothing (provisioning writes them
        into the node bundle next to ``root.pub``; the policy is None before any building exists)."""
        return await self.documents(Heartbeat(0, 0, "", 0, 0, 0), now_s)

    async def documents(self, heartbeat: Heartbeat, now_s: int) -> dict[str, dict[str, Any] | None]:
        """Documents for a node holding the versions in ``heartbeat``: the trust bundle when
        newer, a signed revocation delta since its version (always: its signing time keeps the
        node's trust fresh), the signed policy when newer."""
        from shared.clock import from_unix

        bundle = self.datadir.trust_bundle()
        signer = self.datadir.current_signer(from_unix(now_s))
        delta = await signed_revocation_delta(self.datadir, Passes(self.db), heartbeat.revocation_version,
                                              from_unix(now_s))
        buildings = Buildings(self.db)
        policy = None
        if await buildings.policy_version() > heartbeat.policy_version:
            policy = await signed_policy_document(buildings, signer.key, signer.key_id, now_s)
        return {
            "trust_bundle": bundle.to_json() if bundle.version > heartbeat.trust_version else None,
            "revocations": delta,
            "policy": policy,
        }
