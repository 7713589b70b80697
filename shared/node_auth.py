"""Signed node requests (docs/architecture.md §8): the pure part shared by the door node and the server.

Every request a door node makes under ``/api/v1/nodes/`` carries four headers:

=========================  ===================================================================
``X-Campuspass-Node``      the node id (as registered at enrolment)
``X-Campuspass-Timestamp`` Unix seconds (integer) when the request was signed
``X-Campuspass-Nonce``     16 random bytes, unpadded base64url (22 characters), never reused
``X-Campuspass-Signature`` Ed25519 signature (RFC 8032) by the node key, unpadded base64url
=========================  ===================================================================

The signature covers the canonical string (UTF-8, lines joined by ``\\n``, no trailing newline)::

    campuspass-node-request/v1
    <METHOD, upper case>
    <path with query string, exactly as sent, e.g. /api/v1/nodes/d7-east/sync>
    <node id>
    <timestamp>
    <nonce>
    <SHA-256 hex of the body bytes, before any Content-Encoding (empty body: SHA-256 of b"")>

The server checks, in order: headers present and well-formed (``node_auth_missing``), the node
is known (``unknown_node``), the signature verifies with its registered key
(``bad_node_signature``), the timestamp is within ± the window of the server clock
(``stale_timestamp``), the nonce was not seen within the window (``replayed_nonce``), and the
node is enabled (``node_disabled``). Nonce storage is the server's business; this module is pure.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.errors import CampusPassError, SignatureError
from shared.keys import Ed25519PrivateKey, Ed25519PublicKey, b64u_decode, b64u_encode, sign, verify

DOMAIN = "campuspass-node-request/v1"
NODE_HEADER = "X-Campuspass-Node"
TIMESTAMP_HEADER = "X-Campuspass-Timestamp"
NONCE_HEADER = "X-Campuspass-Nonce"
SIGNATURE_HEADER = "X-Campuspass-Signature"
NONCE_BYTES = 16
DEFAULT_WINDOW_S = 300


class NodeAuthError(CampusPassError):
    """A node request is not acceptable. Codes: ``node_auth_missing``, ``unknown_node``,
    ``bad_node_signature``, ``stale_timestamp``, ``replayed_nonce``, ``node_disabled``,
    ``node_mismatch`` (the path names another node than the header)."""

    code = "node_auth_missing"


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The parsed authentication headers of a request.

    Attributes:
        node_id: the node that claims to have signed.
        timestamp_s: signing time, Unix seconds.
        nonce: the nonce text (22 base64url characters).
        signature: 64 bytes.
    """

    node_id: str
    timestamp_s: int
    nonce: str
    signature: bytes


def body_sha256(body: bytes) -> str:
    """SHA-256 hex of the body bytes (before any Content-Encoding)."""
    return hashlib.sha256(body).hexdigest()


def canonical_string(method: str, path_qs: str, node_id: str, timestamp_s: int, nonce: str, body: bytes) -> bytes:
    """The bytes the node signs (see the module docstring)."""
    lines = (DOMAIN, method.upper(), path_qs, node_id, str(int(timestamp_s)), nonce, body_sha256(body))
    return "\n".join(lines).encode("utf-8")


def new_nonce() -> str:
    """A fresh nonce: 16 random bytes as unpadded base64url."""
    return b64u_encode(os.urandom(NONCE_BYTES))


def sign_request(
    key: Ed25519PrivateKey, node_id: str, method: str, path_qs: str, body: bytes, timestamp_s: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four authentication headers for one request.

    Args:
        key: the node's Ed25519 private key.
        node_id: the node id.
        method, path_qs: HTTP method and path with query string as sent.
        body: the body bytes before compression (b"" for none).
        timestamp_s: Unix seconds (the node's best estimate of server time).
        nonce: a fresh nonce (default: :func:`new_nonce`).
    """
    nonce = nonce or new_nonce()
    message = canonical_string(method, path_qs, node_id, timestamp_s, nonce, body)
    return {
        NODE_HEADER: node_id,
        TIMESTAMP_HEADER: str(int(timestamp_s)),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: b64u_encode(sign(key, message)),
    }


def parse_headers(headers: Mapping[str, str]) -> SignedHeaders:
    """Read the authentication headers.

    Raises:
        NodeAuthError: ``node_auth_missing`` when a header is absent or malformed.
    """
    missing = [h for h in (NODE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER) if not headers.get(h)]
    if missing:
        raise NodeAuthError(f"missing node authentication header(s): {', '.join(missing)}")
    node_id = headers[NODE_HEADER]
    stamp = headers[TIMESTAMP_HEADER]
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        raise NodeAuthError(f"{TIMESTAMP_HEADER} = {stamp[:20]!r}; expected Unix seconds")
    nonce = headers[NONCE_HEADER]
    try:
        raw_nonce = b64u_decode(nonce)
        signature = b64u_decode(headers[SIGNATURE_HEADER])
    except CampusPassError:
        raise NodeAuthError("nonce or signature is not base64url") from None
    if len(raw_nonce) != NONCE_BYTES or len(nonce) != 22:
        raise NodeAuthError(f"{NONCE_HEADER} must be {NONCE_BYTES} bytes of unpadded base64url")
    if len(signature) != 64:
        raise NodeAuthError(f"{SIGNATURE_HEADER} is {len(signature)} bytes; expected 64")
    return SignedHeaders(node_id, int(stamp), nonce, signature)


def verify_request(
    signed: SignedHeaders, public_key: Ed25519PublicKey, method: str, path_qs: str, body: bytes,
    now_s: int, window_s: int = DEFAULT_WINDOW_S,
) -> None:
    """Check the signature, then the timestamp window (nonce reuse is checked by the caller).

    Raises:
        NodeAuthError: ``bad_node_signature`` or ``stale_timestamp`` (the message gives both times).
    """
    message = canonical_string(method, path_qs, signed.node_id, signed.timestamp_s, signed.nonce, body)
    try:
        verify(public_key, signed.signature, message)
    except SignatureError:
        raise NodeAuthError(f"the request signature of node {signed.node_id} does not verify",
                            code="bad_node_signature") from None
    if abs(signed.timestamp_s - now_s) > window_s:
        raise NodeAuthError(
            f"request timestamp {signed.timestamp_s} is {signed.timestamp_s - now_s:+d} s from server time "
            f"{now_s}; expected within ±{window_s} s", code="stale_timestamp")
