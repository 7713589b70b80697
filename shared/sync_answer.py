"""Signed sync answers (docs/architecture.md §10: the node acts only on what it can verify).

The server signs the *whole* answer to a node's sync request with its current issuer key (the
key that signs passes and revocation lists), under the domain ``campuspass/sync-answer/v1``
(:mod:`shared.signed_doc` canonical bytes). The signed document carries two more members:

* ``key_id``: the issuer key that signed; the node finds its public key in its trust bundle,
  which is signed by the root key pinned at provisioning (docs/keys.md);
* ``request``: ``{"node_id", "nonce", "body_sha256"}`` of the request it answers
  (:class:`shared.sync_contract.AnswerBinding`), so a recorded answer cannot be replayed to
  another request or another node.

An answer may bring a newer trust bundle (after a key rotation the node missed); that bundle is
self-authenticating (root-signed), so it is tried first to find the signing key. Nothing else of
the answer is used before :func:`verify_answer` succeeds: not ``ack_seq`` (marks scans uploaded),
not ``server_time_ms`` (raises the trusted-time floor).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from shared.errors import CampusPassError
from shared.keys import Ed25519PrivateKey
from shared.signed_doc import canonical_bytes, sign_document, verify_document
from shared.sync_contract import AnswerBinding, AnswerError, SyncAnswer
from shared.trust import TrustBundle

DOMAIN = "sync-answer/v1"

__all__ = ["DOMAIN", "AnswerError", "VerifiedAnswer", "sign_answer", "signed_bytes", "verify_answer"]


@dataclass(frozen=True, slots=True)
class VerifiedAnswer:
    """A sync answer whose signature verified.

    Attributes:
        answer: its members (:class:`shared.sync_contract.SyncAnswer`); the documents in it are
            verified again by the node store before use.
        bundle: the trust bundle whose issuer key verified it.
    """

    answer: SyncAnswer
    bundle: TrustBundle


def sign_answer(answer: SyncAnswer, binding: AnswerBinding, *, key_id: int, key: Ed25519PrivateKey) -> SyncAnswer:
    """``answer`` bound to the request it answers and signed (Ed25519, RFC 8032) by issuer key
    ``key_id``; its :meth:`~shared.sync_contract.SyncAnswer.to_json` is the wire document."""
    bound = replace(answer, key_id=key_id, request=binding, signature="")
    signed = sign_document(DOMAIN, bound.to_json(), key)
    return replace(bound, signature=signed["signature"])


def signed_bytes(doc: dict[str, Any]) -> bytes:
    """The bytes an answer's signature covers: every member but ``signature``, canonical
    (:mod:`shared.signed_doc`), after ``campuspass/sync-answer/v1\\n``."""
    return canonical_bytes(DOMAIN, doc)


def verify_answer(doc: object, *, node_id: str, nonce: str, body_sha256: str, held: TrustBundle | None,
                  pinned_root: bytes) -> VerifiedAnswer:
    """Check a sync answer before any of it is used.

    The signature is checked over the document as received (members this node does not know
    included: a newer server may add some), then its known members are read.

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
    answer = SyncAnswer.from_json(doc)
    if answer.request != AnswerBinding(node_id, nonce, body_sha256):
        raise AnswerError("answer belongs to another request (replayed or mixed up)")
    candidates: list[TrustBundle] = []
    if answer.trust_bundle is not None:
        try:
            candidates.append(TrustBundle.load(answer.trust_bundle, pinned_root))
        except CampusPassError:
            pass  # not root-signed: worthless, the held bundle decides
    if held is not None:
        candidates.append(held)
    errors = []
    for bundle in candidates:
        try:
            key = bundle.issuer_key(key_id, answer.server_time_ms // 1000)
            verify_document(DOMAIN, doc, key)
        except CampusPassError as exc:
            errors.append(exc.message)
            continue
        return VerifiedAnswer(answer, bundle)
    raise AnswerError(f"answer signature does not verify: {'; '.join(errors) or 'no trust bundle held'}")
