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

from collections.abc import Sequence
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
from server.storage.presence import PresenceStore
from server.storage.scans import Anomaly, ScanLog, ScanRow, SyncLogRow
from shared.errors import WireFormatError
from shared.scanlog import ChainHead, ScanRecord, walk_chain
from shared.sync_contract import Gap, Heartbeat, SyncRequest

SYNC_MAX_BODY_BYTES = 2 * 1024 * 1024
"""Largest sync request body accepted, decoded (413 ``body_too_large`` beyond)."""


def read_request(doc: Any, node_id: str, max_batch: int) -> SyncRequest:
    """The typed request of node ``node_id`` (:meth:`SyncRequest.from_json`), every record its own.

    Raises:
        WireFormatError: ``invalid_field``, ``batch_too_large``, ``bad_record`` (also: a record
            of another node than the one that signed the request).
    """
    request = SyncRequest.from_json(doc, max_batch)
    for i, rec in enumerate(request.records):
        if rec.node_id != node_id:
            raise WireFormatError(f"records[{i}].node_id = {rec.node_id[:40]!r}; this request is signed by {node_id}",
                                  code="bad_record")
    return request


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


def _row(rec: ScanRecord, building: str, now_s: int, skew_ms: int, min_skew_ms: int) -> ScanRow:
    serial, subject = rec.serial, rec.subject
    return (
        rec.scan_id, rec.node_id, rec.seq, building, rec.direction,
        corrected_at_ms(rec.at_ms, rec.clock_trusted, skew_ms, min_skew_ms),
        int(rec.clock_trusted), None if serial is None else bytes.fromhex(serial),
        None if subject is None else bytes.fromhex(subject), rec.text_sha256, rec.verdict, rec.reason,
        rec.hash, now_s, rec.epoch, int(rec.trust_stale), rec.at_ms, 0,
    )


# ScanRow members used below
_ID: Final = 0
_SEQ: Final = 2
_DIRECTION: Final = 4
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

    async def upload(self, node: NodeRow, records: Sequence[ScanRecord], heartbeat: Heartbeat, now_ms: int
                     ) -> tuple[int, int, list[Gap]]:
        """Store one batch and the heartbeat in one transaction.

        Args:
            node: the authenticated node.
            records: the records of the node's request (:func:`read_request`), any order.
            heartbeat: the node's heartbeat.
            now_ms: server time, Unix milliseconds.

        Returns:
            ``(ack_seq, inserted, gaps)``.
        """
        now_s = now_ms // 1000
        records = sorted(records, key=lambda r: (r.epoch, r.seq))
        skew_ms = now_ms - heartbeat.node_time_ms
        skew_s = skew_ms / 1000
        async with self.db.transaction() as conn:
            epoch, seq, hash_ = await ScanLog.head(conn, node.id)
            head, events, keep = walk_chain(ChainHead(epoch, seq, hash_), records, heartbeat.chain_epoch)
            anomalies = [Anomaly(node.id, e.kind, now_s, e.seq_from, e.seq_to, e.detail) for e in events]
            retransmitted = [r for r in keep if r.seq <= seq and r.epoch == epoch]
            if retransmitted:  # one sequence number never names two records
                held = await ScanLog.stored_hashes(conn, node.id, epoch, [r.seq for r in retransmitted])
                for r in retransmitted:
                    if held.get(r.seq, r.hash) != r.hash:
                        anomalies.append(Anomaly(
                            node.id, "seq_conflict", now_s, r.seq, r.seq,
                            f"record {r.seq} of epoch {epoch} differs from the one stored: not stored "
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
            # Each new accepted scan points back to the person's previous scan at this building
            # (co-presence sums them in SQL; a late scan also corrects the one after it).
            links = await PresenceStore.link_new_scans(conn, node.building, [
                (r[_ID], r[_SUBJECT], r[_AT], r[_DIRECTION]) for r in rows
                if r[_VERDICT] == "accept" and r[_SUBJECT] is not None])
            inserted = await ScanLog.insert(conn, rows, links)
            if inserted < len(links):  # a scan linked as new was not stored (its id was taken): relink
                await PresenceStore.relink(conn, min(r[_AT] for r in rows), building=node.building,
                                           subjects=sorted({r[_SUBJECT] for r in rows if r[_SUBJECT] is not None}))
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
            hb = heartbeat.to_json()
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
        return await self.documents(Heartbeat(node_time_ms=0, queue_depth=0, software_version="", trust_version=0,
                                              revocation_version=0, policy_version=0), now_s)

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
