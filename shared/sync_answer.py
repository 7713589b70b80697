"""Signed sync answers (docs/architecture.md §10: the node acts only on what it can verify).

The server signs the *whole* answer to a node's sync request with its current issuer key (the
key that signs passes and revocation lists), under the domain ``campuspass/sync-answer/v1``
(:mod:`shared.signed_doc` canonical bytes). The signed document carries two more members:

* ``key_id``: the issuer key that signed; the node finds its public key in its trust bundle,
  which is signed by the root key pinned at provisioning (docs/keys.md);
* ``request``: ``{"node_id", "nonce", "body_sha256"}`` of the request it answers, so a recorded
  answer cannot be replayed to another request or another node.

An answer may bring a newer trust bundle (after a key rotation the node missed); that bundle is
self-authenticating (root-signed), so it is tried first to find the signing key. Nothing else of
the answer is used before :func:`verify_answer` succeeds: not ``ack_seq`` (marks scans uploaded),
not ``server_time_ms`` (raises the trusted-time floor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import CampusPassError
from shared.keys import Ed25519PrivateKey
from shared.signed_doc import sign_document, verify_document
from shared.trust import TrustBundle

DOMAIN = "sync-answer/v1"
_MAX_INT = 2**53


class AnswerError(CampusPassError):
    """A sync answer cannot be believed: unsigned, signed by an unknown key, bound to another
    request, or of a wrong shape. Code ``bad_answer``."""

    code = "bad_answer"


@dataclass(frozen=True, slots=True)
class VerifiedAnswer:
    """The members of a verified answer (see ``server.sync.SyncAnswer``).

    Attributes:
        ack_seq: records with ``seq ≤ ack_seq`` are held by the server.
        received, inserted, duplicates: counts of the batch.
        gaps: ``(from_seq, to_seq)`` ranges the server recorded as missing.
        server_time_ms: the server clock when it answered (Unix ms).
        trust_bundle, revocations, policy: documents (each also verified by the node store).
        bundle: the trust bundle whose issuer key verified the answer.
    """

    ack_seq: int
    received: int
    inserted: int
    duplicates: int
    gaps: tuple[tuple[int, int], ...]
    server_time_ms: int
    trust_bundle: dict[str, Any] | None
    revocations: dict[str, Any] | None
    policy: dict[str, Any] | None
    bundle: TrustBundle


def binding(node_id: str, nonce: str, body_sha256: str) -> dict[str, str]:
    """The ``request`` member: which signed request an answer belongs to."""
    return {"node_id": node_id, "nonce": nonce, "body_sha256": body_sha256}


def sign_answer(answer: dict[str, Any], *, node_id: str, nonce: str, body_sha256: str, key_id: int,
                key: Ed25519PrivateKey) -> dict[str, Any]:
    """``answer`` with ``key_id``, ``request`` and ``signature`` (Ed25519, RFC 8032) added."""
    doc = dict(answer)
    doc["key_id"] = key_id
    doc["request"] = binding(node_id, nonce, body_sha256)
    return sign_document(DOMAIN, doc, key)


def _int(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if type(value) is not int or not 0 <= value < _MAX_INT:
        raise AnswerError(f"answer member {name} = {str(value)[:40]!r}; expected an integer 0..2^53")
    return value


def _doc(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = doc.get(name)
    if value is not None and not isinstance(value, dict):
        raise AnswerError(f"answer member {name} is {type(value).__name__}; expected an object or null")
    return value


def verify_answer(doc: Any, *, node_id: str, nonce: str, body_sha256: str, held: TrustBundle | None,
                  pinned_root: bytes) -> VerifiedAnswer:
    """Check a sync answer before any of it is used.

    Args:
        doc: the parsed JSON answer.
        node_id, nonce, body_sha256: of the request this answers.
        held: the node's verified trust bundle (None before seeding).
        pinned_root: the root public key pinned at provisioning (32 bytes).

    Raises:
        AnswerError: the answer is not an object, has no signature, is bound to another request,
            is not signed by an issuer key of a root-signed bundle, or a member has a wrong type.
    """
    if not isinstance(doc, dict):
        raise AnswerError(f"answer is {type(doc).__name__}; expected a JSON object")
    key_id = doc.get("key_id")
    if type(key_id) is not int or not isinstance(doc.get("signature"), str):
        raise AnswerError("answer carries no key_id and signature: not signed by the server")
    if doc.get("request") != binding(node_id, nonce, body_sha256):
        raise AnswerError("answer belongs to another request (replayed or mixed up)")
    server_time_ms = _int(doc, "server_time_ms")
    candidates: list[TrustBundle] = []
    offered = doc.get("trust_bundle")
    if isinstance(offered, dict):
        try:
            candidates.append(TrustBundle.load(offered, pinned_root))
        except CampusPassError:
            pass  # not root-signed: worthless, the held bundle decides
    if held is not None:
        candidates.append(held)
    errors = []
    for bundle in candidates:
        try:
            key = bundle.issuer_key(key_id, server_time_ms // 1000)
            verify_document(DOMAIN, doc, key)
        except CampusPassError as exc:
            errors.append(exc.message)
            continue
        gaps_json = doc.get("gaps")
        if not isinstance(gaps_json, list):
            raise AnswerError("answer member gaps is not a list")
        gaps = []
        for g in gaps_json:
            if not isinstance(g, dict):
                raise AnswerError("answer gap is not an object")
            gaps.append((_int(g, "from_seq"), _int(g, "to_seq")))
        return VerifiedAnswer(_int(doc, "ack_seq"), _int(doc, "received"), _int(doc, "inserted"),
                              _int(doc, "duplicates"), tuple(gaps), server_time_ms, _doc(doc, "trust_bundle"),
                              _doc(doc, "revocations"), _doc(doc, "policy"), bundle)
    raise AnswerError(f"answer signature does not verify: {'; '.join(errors) or 'no trust bundle held'}")
