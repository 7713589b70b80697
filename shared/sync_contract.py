"""The sync contract between door node and server: typed messages and their JSON
(docs/sync-protocol.md; golden vectors in docs/sync-vectors/).

Both sides use these classes: the node builds a :class:`SyncRequest` and encodes it with
:meth:`SyncRequest.to_bytes`; the server reads it with :meth:`SyncRequest.from_json`, answers
with a :class:`SyncAnswer` (signed by :func:`shared.sync_answer.sign_answer`), which the node
reads with :func:`shared.sync_answer.verify_answer`. A scan record is
:class:`shared.scanlog.ScanRecord`.

Strict and tolerant, as the protocol says:

* The server refuses a request with a member it does not know, a required member missing or a
  member of a wrong type or range (:class:`shared.errors.WireFormatError`: ``invalid_field`` for
  the body and the heartbeat, ``bad_record`` for a record, ``batch_too_large``). Members added
  since the first nodes have defaults, so an older node's request (without them) is read with
  those defaults. A new member is therefore learnt by the server first: servers are upgraded
  before nodes.
* The node reads a signed answer's known members strictly (``bad_answer``) and ignores members
  it does not know: the signature covers them all, so a newer server may add members without
  breaking older nodes.

Shapes (every time Unix milliseconds ``_ms`` or seconds ``_s``; integers below 2^53):

* request: ``{"heartbeat": Heartbeat, "records": [ScanRecord, ...], "documents": bool}``
* answer: ``{"ack_seq", "received", "inserted", "duplicates", "gaps": [Gap], "server_time_ms",
  "trust_bundle", "revocations", "policy", "key_id", "request": AnswerBinding, "signature"}``
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from shared.config import bounds, from_mapping
from shared.errors import ConfigError, WireFormatError
from shared.scanlog import ScanRecord

MAX_INT = 2**53
"""Integers on the wire stay below 2^53 (exact in every JSON reader, JavaScript's too)."""

_VERSION_MAX = 2**31 - 1


class AnswerError(WireFormatError):
    """A sync answer cannot be believed: unsigned, signed by an unknown key, bound to another
    request, or a member of a wrong shape. Code ``bad_answer``."""

    code = "bad_answer"


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """What a node reports with every sync request (members in the order the node sends them).

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

    The six members without a default are required; the others were added over time and an
    older node leaves them out.
    """

    node_time_ms: int = field(metadata=bounds(minimum=0, maximum=MAX_INT))
    queue_depth: int = field(metadata=bounds(minimum=0, maximum=MAX_INT))
    oldest_unsynced_at_ms: int | None = field(default=None, metadata=bounds(minimum=0, maximum=MAX_INT))
    clock_offset_s: float | None = field(default=None, metadata=bounds(minimum=-1e10, maximum=1e10))
    software_version: str = field(metadata=bounds(max_length=64))
    trust_version: int = field(metadata=bounds(minimum=0, maximum=_VERSION_MAX))
    revocation_version: int = field(metadata=bounds(minimum=0, maximum=_VERSION_MAX))
    policy_version: int = field(metadata=bounds(minimum=0, maximum=_VERSION_MAX))
    camera: str = field(default="", metadata=bounds(max_length=32))
    decoder: str = field(default="", metadata=bounds(max_length=32))
    uptime_s: float = field(default=0.0, metadata=bounds(minimum=0, maximum=1e10))
    clock_trusted: bool = True
    storage: str = field(default="ok", metadata=bounds(max_length=32))
    storage_queued: int = field(default=0, metadata=bounds(minimum=0, maximum=MAX_INT))
    storage_dropped: int = field(default=0, metadata=bounds(minimum=0, maximum=MAX_INT))
    bad_answers: int = field(default=0, metadata=bounds(minimum=0, maximum=MAX_INT))
    chain_epoch: int = field(default=0, metadata=bounds(minimum=0, maximum=_VERSION_MAX))

    def to_json(self) -> dict[str, Any]:
        """Every member, in declaration order (None as null)."""
        return {name: getattr(self, name) for name in _HEARTBEAT_FIELDS}

    @classmethod
    def from_json(cls, doc: Any, where: str = "heartbeat") -> Heartbeat:
        """Parse a heartbeat object strictly (members and bounds above).

        Raises:
            WireFormatError: code ``invalid_field``: not an object, an unknown member, a required
                member missing, a wrong type or a value out of its bounds (the message names
                ``where.member``).
        """
        try:
            return from_mapping(cls, doc, where)
        except ConfigError as exc:
            raise WireFormatError(exc.message, code="invalid_field") from None


_HEARTBEAT_FIELDS = tuple(f.name for f in dataclasses.fields(Heartbeat))


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """The body of ``POST /api/v1/nodes/{node_id}/sync``.

    Attributes:
        heartbeat: the node's state.
        records: scan records of the batch, ascending ``seq`` (may be empty: a heartbeat and
            download only).
        documents: False asks the server to leave the documents out of this answer (the node
            does so mid-way through a catch-up); an older node leaves the member out (True).
    """

    heartbeat: Heartbeat
    records: tuple[ScanRecord, ...]
    documents: bool = True

    def to_json(self) -> dict[str, Any]:
        """The body as a JSON object (``documents`` always written)."""
        return {"heartbeat": self.heartbeat.to_json(), "records": [r.to_json() for r in self.records],
                "documents": self.documents}

    def to_bytes(self) -> bytes:
        """The body as the node sends it: compact JSON (no spaces), ASCII (non-ASCII escaped),
        members in :meth:`to_json` order. The request signature covers the SHA-256 of these bytes."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode("ascii")

    @classmethod
    def from_json(cls, doc: Any, max_records: int | None = None) -> SyncRequest:
        """Parse a request body strictly.

        Args:
            doc: the parsed JSON body.
            max_records: most records accepted (None: no limit).

        Raises:
            WireFormatError: ``invalid_field`` (not an object of ``heartbeat``, ``records`` and
                optionally ``documents``, or a bad heartbeat), ``batch_too_large``, or
                ``bad_record`` naming the record's index (``records[3].seq``).
        """
        if (not isinstance(doc, dict) or not _REQUIRED <= doc.keys() <= _MEMBERS
                or not isinstance(doc["records"], list) or not isinstance(doc.get("documents", True), bool)):
            raise WireFormatError("body must be an object with heartbeat (object), records (array) and "
                                  "optionally documents (boolean)", code="invalid_field")
        heartbeat = Heartbeat.from_json(doc["heartbeat"])
        records = doc["records"]
        if max_records is not None and len(records) > max_records:
            raise WireFormatError(f"batch of {len(records)} records; at most {max_records}", code="batch_too_large")
        parse = ScanRecord.from_json
        return cls(heartbeat, tuple([parse(r, f"records[{i}]") for i, r in enumerate(records)]),
                   doc.get("documents", True))


_REQUIRED = frozenset({"heartbeat", "records"})
_MEMBERS = _REQUIRED | {"documents"}


@dataclass(frozen=True, slots=True)
class Gap:
    """Sequence numbers ``from_seq..to_seq`` (inclusive) the server will never receive: gone
    from the node's log."""

    from_seq: int
    to_seq: int


@dataclass(frozen=True, slots=True)
class AnswerBinding:
    """The request a sync answer belongs to: its node, its nonce
    (``X-Campuspass-Nonce``) and the SHA-256 hex of its uncompressed body."""

    node_id: str
    nonce: str
    body_sha256: str


@dataclass(frozen=True, slots=True)
class SyncAnswer:
    """The answer to a sync request (signed as a whole: :mod:`shared.sync_answer`).

    Attributes:
        ack_seq: every record with ``seq ≤ ack_seq`` (in the node's own chain epoch) is held or
            recorded as a gap: the node marks them synced.
        received, inserted, duplicates: records in the batch / newly stored / already held.
        gaps: gaps found in this batch.
        server_time_ms: the server clock when answering (Unix ms).
        trust_bundle, revocations, policy: signed documents (each verified again by the node
            before use), or None: not newer than the node's, or not asked for.
        key_id, request, signature: set by signing (:func:`shared.sync_answer.sign_answer`): the
            issuer key that signed, the request answered, the Ed25519 signature (RFC 8032) over
            the rest; 0, None and "" before.
    """

    ack_seq: int
    received: int
    inserted: int
    duplicates: int
    gaps: tuple[Gap, ...]
    server_time_ms: int
    trust_bundle: dict[str, Any] | None = None
    revocations: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    key_id: int = 0
    request: AnswerBinding | None = None
    signature: str = ""

    def to_json(self) -> dict[str, Any]:
        """The answer as a JSON object; ``key_id``, ``request`` and ``signature`` only once signed."""
        doc: dict[str, Any] = {
            "ack_seq": self.ack_seq, "received": self.received, "inserted": self.inserted,
            "duplicates": self.duplicates,
            "gaps": [{"from_seq": g.from_seq, "to_seq": g.to_seq} for g in self.gaps],
            "server_time_ms": self.server_time_ms, "trust_bundle": self.trust_bundle,
            "revocations": self.revocations, "policy": self.policy,
        }
        if self.request is not None:
            doc["key_id"] = self.key_id
            doc["request"] = dataclasses.asdict(self.request)
            doc["signature"] = self.signature
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> SyncAnswer:
        """Read an answer's members (its signature is checked by
        :func:`shared.sync_answer.verify_answer`, which calls this). Members this code does not
        know are ignored (a newer server may add some); ``trust_bundle``, ``revocations`` and
        ``policy`` may be left out (None).

        Raises:
            AnswerError: not an object, or a known member missing or of a wrong type.
        """
        if not isinstance(doc, dict):
            raise AnswerError(f"answer is {type(doc).__name__}; expected a JSON object")
        gaps_json = doc.get("gaps")
        if not isinstance(gaps_json, list):
            raise AnswerError("answer member gaps is not a list")
        gaps = []
        for g in gaps_json:
            if not isinstance(g, dict):
                raise AnswerError("answer gap is not an object")
            gaps.append(Gap(_int(g, "from_seq"), _int(g, "to_seq")))
        request = doc.get("request")
        binding = None
        if request is not None:
            if not (isinstance(request, dict) and request.keys() == {"node_id", "nonce", "body_sha256"}
                    and all(isinstance(v, str) for v in request.values())):
                raise AnswerError("answer member request is not {node_id, nonce, body_sha256} (text)")
            binding = AnswerBinding(request["node_id"], request["nonce"], request["body_sha256"])
        signature = doc.get("signature", "")
        if not isinstance(signature, str):
            raise AnswerError("answer member signature is not text")
        return cls(_int(doc, "ack_seq"), _int(doc, "received"), _int(doc, "inserted"), _int(doc, "duplicates"),
                   tuple(gaps), _int(doc, "server_time_ms"), _doc(doc, "trust_bundle"), _doc(doc, "revocations"),
                   _doc(doc, "policy"), _int(doc, "key_id") if "key_id" in doc else 0, binding, signature)


def _int(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if type(value) is not int or not 0 <= value < MAX_INT:
        raise AnswerError(f"answer member {name} = {str(value)[:40]!r}; expected an integer 0..2^53")
    return value


def _doc(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = doc.get(name)
    if value is not None and not isinstance(value, dict):
        raise AnswerError(f"answer member {name} is {type(value).__name__}; expected an object or null")
    return value
