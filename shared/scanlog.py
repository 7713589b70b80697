"""Scan records and their hash chain (docs/architecture.md §7): pure code, no SQLite.

Every door decision becomes one :class:`ScanRecord`. Records form a chain: each carries the
SHA-256 of the previous record (``prev_hash``) and its own ``hash`` over its canonical bytes,
so a deleted or edited record breaks the chain. The server checks each upload's continuity
with :func:`walk_chain` (typed records, chain epochs, its held position); the node and
``campuspass edge verify-log`` check a stored log with :func:`verify_chain` (``to_json``
dictionaries). :meth:`ScanRecord.from_json` is the strict reader of the wire shape (the sync
contract, :mod:`shared.sync_contract`; golden vectors in docs/sync-vectors/scan-records.json).

Canonical bytes of a record: ``json.dumps(body, sort_keys=True, separators=(",", ":"),
ensure_ascii=True)`` of :meth:`ScanRecord.body` (every member except ``hash``), UTF-8.
``hash = sha256(canonical bytes).hexdigest()``. The first record of a chain has
``prev_hash`` = 64 zeros (:data:`GENESIS_HASH`).

Two members are optional and appear in the body (and so in the hash) only when they are not
their default, so records without them hash as before: ``epoch`` (int, default 0: the chain
epoch; a node whose database was replaced starts epoch n+1 at seq 1) and ``trust_stale``
(true: accepted in ``fail_mode = "open"`` on stale revocation data).
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any

from shared.errors import WireFormatError

GENESIS_HASH = "0" * 64


def uuid7(unix_ms: int, rand: bytes | None = None) -> uuid.UUID:
    """A UUID version 7 (RFC 9562 §5.7): 48-bit Unix milliseconds, then 74 random bits.

    Args:
        unix_ms: milliseconds since 1970-01-01T00:00:00Z (0 ≤ unix_ms < 2^48).
        rand: 10 random bytes (default: ``os.urandom``); tests pass fixed bytes.

    Raises:
        ValueError: ``unix_ms`` out of range or ``rand`` not 10 bytes.
    """
    if not 0 <= unix_ms < 1 << 48:
        raise ValueError(f"unix_ms {unix_ms}; expected 0..2^48-1")
    rand = os.urandom(10) if rand is None else rand
    if len(rand) != 10:
        raise ValueError(f"rand is {len(rand)} bytes; expected 10")
    r = int.from_bytes(rand, "big")
    rand_a = (r >> 62) & 0xFFF
    rand_b = r & ((1 << 62) - 1)
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One door decision as logged (never the pass text).

    Attributes:
        seq: sequence number on this node, 1, 2, 3, ... without gaps.
        scan_id: UUIDv7 text (time-ordered; the server's idempotency key).
        node_id: the node that decided.
        at_ms: decision time, Unix milliseconds (trusted time: never earlier than the
            node's persisted lower bound).
        mono_ms: the node's monotonic clock at the decision, milliseconds (arbitrary origin,
            resets at reboot).
        clock_trusted: False when the system clock was earlier than the trusted lower bound.
        serial, subject: pass serial and subject id as 16 hex digits; None when the text
            was not a campus pass whose signature verified.
        text_sha256: SHA-256 hex of the decoded text (to match a complaint to a record without
            keeping the text).
        verdict: ``accept`` or ``deny``.
        reason: a :class:`shared.decision.Reason` value.
        direction: ``entry`` or ``exit``.
        prev_hash: ``hash`` of the record before (``GENESIS_HASH`` for seq 1).
        hash: SHA-256 hex of this record's canonical bytes.
        epoch: the chain epoch (0 for a node's first database; each replacement database
            starts the next epoch at seq 1, so the server can tell the chains apart).
        trust_stale: the decision was made on revocation data older than ``stale_after_s``
            (only ``fail_mode = "open"`` accepts then).
    """

    seq: int
    scan_id: str
    node_id: str
    at_ms: int
    mono_ms: int
    clock_trusted: bool
    serial: str | None
    subject: str | None
    text_sha256: str
    verdict: str
    reason: str
    direction: str
    prev_hash: str
    hash: str
    epoch: int = 0
    trust_stale: bool = False

    def body(self) -> dict[str, Any]:
        """Every member except ``hash`` (what the hash covers; the optional members only when
        not their default)."""
        body = {
            "seq": self.seq,
            "scan_id": self.scan_id,
            "node_id": self.node_id,
            "at_ms": self.at_ms,
            "mono_ms": self.mono_ms,
            "clock_trusted": self.clock_trusted,
            "serial": self.serial,
            "subject": self.subject,
            "text_sha256": self.text_sha256,
            "verdict": self.verdict,
            "reason": self.reason,
            "direction": self.direction,
            "prev_hash": self.prev_hash,
        }
        if self.epoch:
            body["epoch"] = self.epoch
        if self.trust_stale:
            body["trust_stale"] = True
        return body

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (the sync wire shape)."""
        return {**self.body(), "hash": self.hash}

    def computed_hash(self) -> str:
        """SHA-256 hex of this record's canonical bytes (what ``hash`` must be; see the module
        docstring)."""
        # The canonical JSON written out directly, members in sorted order (the server hashes
        # every uploaded record; this is several times faster than the general encoder).
        # Equal to record_hash(self.body()) for every record: a test holds them together.
        q = _quote
        text = _CANONICAL_TEMPLATE % (
            self.at_ms, _JSON_BOOL[self.clock_trusted], q(self.direction),
            f',"epoch":{self.epoch:d}' if self.epoch else "", self.mono_ms, q(self.node_id), q(self.prev_hash),
            q(self.reason), q(self.scan_id), self.seq, _json_text(self.serial), _json_text(self.subject),
            q(self.text_sha256), ',"trust_stale":true' if self.trust_stale else "", q(self.verdict))
        return hashlib.sha256(text.encode("ascii")).hexdigest()

    @classmethod
    def from_json(cls, doc: Any, where: str = "record") -> ScanRecord:
        """Parse a record object strictly (the hash is not checked: :func:`walk_chain`,
        :func:`verify_chain`).

        Every member of :meth:`to_json` must be there with its JSON type (``epoch`` and
        ``trust_stale`` may be left out: their defaults), and no other member: a member this
        code does not know would not be covered by its hash check. Values: ``seq`` 1..2^53-1;
        ``at_ms``, ``mono_ms`` 0..2^53-1; ``scan_id`` 36 characters; ``serial``, ``subject`` 16
        lowercase hex digits or null; ``text_sha256``, ``prev_hash``, ``hash`` 64 lowercase hex
        digits; ``verdict`` ``accept``/``deny``; ``direction`` ``entry``/``exit``; ``reason`` a code
        of 1..32 characters a-z and ``_``; ``epoch`` 0..2^31-1.

        Args:
            doc: the parsed JSON value.
            where: how error messages name the record (``records[3]``).

        Raises:
            WireFormatError: code ``bad_record``, naming ``where``, the member and the bad value.
        """
        record = _parsed(doc)
        if record is None:
            raise WireFormatError(_what_is_wrong(doc, where), code="bad_record")
        return record


_FIELDS = (
    "seq", "scan_id", "node_id", "at_ms", "mono_ms", "clock_trusted", "serial", "subject",
    "text_sha256", "verdict", "reason", "direction", "prev_hash",
)

# The wire members of a record: required (with their exact JSON types) and optional.
_TYPES: dict[str, type | tuple[type, ...]] = {
    "seq": int, "scan_id": str, "node_id": str, "at_ms": int, "mono_ms": int, "clock_trusted": bool,
    "serial": (str, type(None)), "subject": (str, type(None)), "text_sha256": str, "verdict": str, "reason": str,
    "direction": str, "prev_hash": str, "hash": str,
}
_OPTIONAL = {"epoch": int, "trust_stale": bool}
_MEMBERS = frozenset(_TYPES) | frozenset(_OPTIONAL)
_HEX = frozenset("0123456789abcdef")
_REASON = re.compile(r"^[a-z_]{1,32}$")
_MAX_INT = 2**53


def _parsed(doc: Any) -> ScanRecord | None:
    """The fast path of :meth:`ScanRecord.from_json`: the record, or None when anything is wrong
    (then :func:`_what_is_wrong` says what). Each member is read once and its exact type
    compared (``bool`` must not pass as ``int``): the server reads every record of every batch."""
    try:
        seq, scan_id, node_id, at_ms = doc["seq"], doc["scan_id"], doc["node_id"], doc["at_ms"]
        mono_ms, clock_trusted, serial, subject = doc["mono_ms"], doc["clock_trusted"], doc["serial"], doc["subject"]
        text_sha256, verdict, reason, direction = doc["text_sha256"], doc["verdict"], doc["reason"], doc["direction"]
        prev_hash, hash_ = doc["prev_hash"], doc["hash"]
        if len(doc) == 14:  # no optional member
            epoch, trust_stale = 0, False
        elif doc.keys() <= _MEMBERS:
            epoch, trust_stale = doc.get("epoch", 0), doc.get("trust_stale", False)
        else:
            return None
    except (KeyError, TypeError, AttributeError):
        return None
    if not (
        type(seq) is int and type(scan_id) is str and type(node_id) is str and type(at_ms) is int
        and type(mono_ms) is int and type(clock_trusted) is bool and type(text_sha256) is str
        and type(verdict) is str and type(reason) is str and type(direction) is str
        and type(prev_hash) is str and type(hash_) is str and type(epoch) is int and type(trust_stale) is bool
        and 0 <= epoch < 2**31
        and (serial is None or (type(serial) is str and len(serial) == 16 and _HEX.issuperset(serial)))
        and (subject is None or (type(subject) is str and len(subject) == 16 and _HEX.issuperset(subject)))
        and (verdict == "accept" or verdict == "deny") and (direction == "entry" or direction == "exit")
        and 1 <= seq < _MAX_INT and len(scan_id) == 36 and 0 <= at_ms < _MAX_INT and 0 <= mono_ms < _MAX_INT
        and len(text_sha256) == 64 and len(prev_hash) == 64 and len(hash_) == 64
        and _HEX.issuperset(text_sha256) and _HEX.issuperset(prev_hash) and _HEX.issuperset(hash_)
        and _REASON.match(reason) is not None
    ):
        return None
    return ScanRecord(seq, scan_id, node_id, at_ms, mono_ms, clock_trusted, serial, subject, text_sha256, verdict,
                      reason, direction, prev_hash, hash_, epoch, trust_stale)


def _what_is_wrong(doc: Any, where: str) -> str:
    """The message for a record :func:`_parsed` refused: its first fault."""
    if not isinstance(doc, dict):
        return f"{where} is {type(doc).__name__}; expected an object"
    unknown = sorted(set(doc) - _MEMBERS)
    if unknown:
        return f"{where} has the unknown member {unknown[0][:40]!r}; expected only {sorted(_MEMBERS)}"
    for name, kind in (*_TYPES.items(), *_OPTIONAL.items()):
        if name not in doc:
            if name in _OPTIONAL:
                continue
            return f"{where}.{name} is missing"
        value = doc[name]
        if not isinstance(value, kind) or (value is True or value is False) and kind is not bool:
            expected = "null or a string" if isinstance(kind, tuple) else {
                int: "an integer", str: "a string", bool: "true or false"}[kind]
            return f"{where}.{name} = {str(value)[:40]!r}; expected {expected}"
    for name in ("serial", "subject"):
        value = doc[name]
        if value is not None and (len(value) != 16 or not _HEX.issuperset(value)):
            return f"{where}.{name} = {value[:40]!r}; expected 16 lowercase hex digits or null"
    if doc["verdict"] not in ("accept", "deny") or doc["direction"] not in ("entry", "exit"):
        return (f"{where}: verdict {doc['verdict'][:20]!r} / direction {doc['direction'][:20]!r} unknown; "
                "expected accept or deny / entry or exit")
    if not 1 <= doc["seq"] < _MAX_INT or len(doc["scan_id"]) != 36:
        return f"{where}: seq {doc['seq']} / scan_id {doc['scan_id'][:40]!r} out of range"
    for name in ("at_ms", "mono_ms"):
        if not 0 <= doc[name] < _MAX_INT:
            return f"{where}.{name} = {doc[name]}; expected 0..2^53"
    for name in ("text_sha256", "prev_hash", "hash"):
        if len(doc[name]) != 64 or not _HEX.issuperset(doc[name]):
            return f"{where}.{name} = {doc[name][:70]!r}; expected 64 lowercase hex digits"
    if not _REASON.match(doc["reason"]):
        return f"{where}.reason = {doc['reason'][:40]!r}; expected a reason code (a-z, _)"
    epoch = doc.get("epoch", 0)
    if not 0 <= epoch < 2**31:
        return f"{where}.epoch = {epoch!r}; expected an integer 0..2147483647"
    return f"{where} is not a scan record"


# The encoder json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True) builds on every
# call, built once: the server hashes every uploaded record.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)

# ScanRecord.computed_hash's canonical text: the body's members in sorted key order, the two
# optional ones (epoch, trust_stale) as whole members or nothing.
_CANONICAL_TEMPLATE = (
    '{"at_ms":%d,"clock_trusted":%s,"direction":%s%s,"mono_ms":%d,"node_id":%s,"prev_hash":%s,"reason":%s,'
    '"scan_id":%s,"seq":%d,"serial":%s,"subject":%s,"text_sha256":%s%s,"verdict":%s}'
)
_quote = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_JSON_BOOL = {True: "true", False: "false"}


def _json_text(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def record_hash(body: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical bytes of a record body (see the module docstring)."""
    payload = {k: body[k] for k in _FIELDS}
    if body.get("epoch"):
        payload["epoch"] = body["epoch"]
    if body.get("trust_stale"):
        payload["trust_stale"] = True
    return hashlib.sha256(_CANONICAL.encode(payload).encode("ascii")).hexdigest()


def seal(**body: Any) -> ScanRecord:
    """A :class:`ScanRecord` from its body members, with ``hash`` computed."""
    return ScanRecord(**body, hash=record_hash(body))


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Where a chain does not hold: at ``seq``, ``kind`` is ``gap``, ``bad_hash`` or ``bad_link``."""

    seq: int
    kind: str


def verify_chain(records: list[dict[str, Any]], prev_hash: str | None = None, prev_seq: int | None = None
                 ) -> list[ChainBreak]:
    """Check a run of records (``to_json`` dictionaries, ascending ``seq``).

    Args:
        records: the records to check.
        prev_hash, prev_seq: the last record already known (None: start at these records).

    Returns:
        Every break found (empty when the run is intact): ``gap`` (a seq is missing),
        ``bad_hash`` (a record was altered), ``bad_link`` (``prev_hash`` does not match).
    """
    breaks = []
    for doc in records:
        seq = int(doc["seq"])
        if prev_seq is not None and seq != prev_seq + 1:
            breaks.append(ChainBreak(seq, "gap"))
        elif prev_hash is not None and doc["prev_hash"] != prev_hash:
            breaks.append(ChainBreak(seq, "bad_link"))
        if record_hash(doc) != doc["hash"]:
            breaks.append(ChainBreak(seq, "bad_hash"))
        prev_hash, prev_seq = doc["hash"], seq
    return breaks


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a reader holds a node's chain: the epoch, the highest sequence number held
    contiguously in it (recorded gaps count as held) and that record's hash."""

    epoch: int
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """Something :func:`walk_chain` found: ``kind`` is ``chain_gap``, ``bad_link``, ``bad_hash``,
    ``chain_epoch`` or ``old_epoch``; the sequence numbers it concerns (``seq_to`` None: from
    ``seq_from`` on, or a single record); ``detail`` says it in words (never a person)."""

    kind: str
    seq_from: int
    seq_to: int | None
    detail: str


def walk_chain(head: ChainHead, records: list[ScanRecord], node_epoch: int = 0
               ) -> tuple[ChainHead, list[ChainEvent], list[ScanRecord]]:
    """Move a node's head along ``records`` (ascending epoch, then ``seq``): the server's
    continuity check of an upload (docs/sync-protocol.md, "Idempotency and acknowledgement",
    "Chain epochs").

    A node whose database was replaced starts a new chain epoch at seq 1: the first sign of it
    (a record of a higher epoch, or ``node_epoch`` from the heartbeat) is a ``chain_epoch``
    event naming the old epoch's lost tail, and the head moves to the new epoch at 0. Records of
    an epoch below the head's are left out (one ``old_epoch`` event). Within the epoch, records
    at or below the head are retransmissions (kept, not checked: the caller stores them only if
    new). A record above ``head + 1`` means the records between are gone: ``chain_gap``, and the
    head moves past it. A ``prev_hash`` that is not the head's hash is ``bad_link``; a record
    whose hash does not match its content is ``bad_hash``.

    Returns:
        ``(new head, events, records to keep)``.
    """
    events: list[ChainEvent] = []
    keep: list[ScanRecord] = []
    old_epoch_seen = False

    def new_epoch(epoch: int) -> ChainHead:
        events.append(ChainEvent(
            "chain_epoch", head.seq + 1, None,
            f"the node's database was replaced: chain epoch {head.epoch} ends at record {head.seq} "
            f"(any records of it after {head.seq} are lost); epoch {epoch} starts at record 1"))
        return ChainHead(epoch, 0, GENESIS_HASH)

    if node_epoch > head.epoch:
        head = new_epoch(node_epoch)
    for rec in records:
        if rec.epoch < head.epoch:
            if not old_epoch_seen:
                events.append(ChainEvent("old_epoch", rec.seq, None,
                                         f"records of chain epoch {rec.epoch} after epoch {head.epoch} began: "
                                         "not stored (an old copy of the node's database?)"))
                old_epoch_seen = True
            continue
        if rec.epoch > head.epoch:
            head = new_epoch(rec.epoch)
        keep.append(rec)
        seq = rec.seq
        if seq <= head.seq:
            continue
        if rec.computed_hash() != rec.hash:
            events.append(ChainEvent("bad_hash", seq, seq, f"record {seq} does not match its hash: altered on the node"))
        if seq > head.seq + 1:
            events.append(ChainEvent("chain_gap", head.seq + 1, seq - 1,
                                     f"records {head.seq + 1}..{seq - 1} missing from the node's log"))
        elif rec.prev_hash != head.hash:
            events.append(ChainEvent("bad_link", seq, seq, f"record {seq} does not link to record {head.seq}"))
        head = ChainHead(head.epoch, seq, rec.hash)
    return head, events, keep
