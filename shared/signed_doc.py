"""Signed JSON documents: canonical bytes, domain-separated Ed25519 signatures.

Used for issuer certificates, trust bundles, revocation lists and building policies.
Canonical form: ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``
of the document without its ``"signature"`` member, UTF-8 (pure ASCII), prefixed with a
domain tag such as ``b"campuspass/trust-bundle/v1\\n"`` so a signature over one kind of
document can never be replayed as another.
"""

from __future__ import annotations

import json
from typing import Any

from shared.errors import DocumentError
from shared.keys import Ed25519PrivateKey, Ed25519PublicKey, b64u_decode, b64u_encode, sign, verify


def canonical_bytes(domain: str, body: dict[str, Any]) -> bytes:
    """The exact bytes that are signed for ``body`` (without ``signature``) under ``domain``."""
    payload = {k: v for k, v in body.items() if k != "signature"}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return f"campuspass/{domain}\n".encode("ascii") + text.encode("ascii")


def sign_document(domain: str, body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of ``body`` with ``"signature"`` (base64url Ed25519 over the canonical bytes)."""
    signed = {k: v for k, v in body.items() if k != "signature"}
    signed["signature"] = b64u_encode(sign(key, canonical_bytes(domain, signed)))
    return signed


def verify_document(domain: str, doc: dict[str, Any], key: Ed25519PublicKey) -> None:
    """Check the ``signature`` member of ``doc``.

    Raises:
        DocumentError: no signature member, or it is not text.
        SignatureError: the signature does not verify with ``key``.
    """
    sig = doc.get("signature")
    if not isinstance(sig, str):
        raise DocumentError(f"{domain} document has no signature; expected a base64url string")
    verify(key, b64u_decode(sig), canonical_bytes(domain, doc))


def require(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``doc[name]`` checked to be of ``kind``.

    Raises:
        DocumentError: the member is missing or of another type.
    """
    if not isinstance(doc, dict):
        raise DocumentError(f"{what} is {type(doc).__name__}; expected a JSON object")
    value = doc.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DocumentError(f"{what} member {name!r} is {value!r}; expected {kind}")
    return value
