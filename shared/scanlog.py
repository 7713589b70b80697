"""Scan records and their hash chain (docs/architecture.md §7): pure code, no SQLite.

Every door decision becomes one :class:`ScanRecord`. Records form a chain: each carries the
SHA-256 of the previous record (``prev_hash``) and its own ``hash`` over its canonical bytes,
so a deleted or edited record breaks the chain. The server's sync side checks continuity
with :func:`verify_chain` on the records it receives (as ``to_json`` dictionaries).

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
import os
import uuid
from dataclasses import dataclass
from typing import Any

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

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ScanRecord:
        """Parse a record object (hash not checked; use :func:`verify_chain`).

        Raises:
            KeyError, TypeError: a member is missing.
        """
        return cls(**{k: doc[k] for k in (*_FIELDS, "hash")}, epoch=int(doc.get("epoch", 0)),
                   trust_stale=bool(doc.get("trust_stale", False)))


_FIELDS = (
    "seq", "scan_id", "node_id", "at_ms", "mono_ms", "clock_trusted", "serial", "subject",
    "text_sha256", "verdict", "reason", "direction", "prev_hash",
)


# The encoder json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True) builds on every
# call, built once: the server hashes every uploaded record.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


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
