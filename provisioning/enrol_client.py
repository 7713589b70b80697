"""``campuspass provision enroll`` on the Pi: make the node key here, enrol it with a one-time
token, write the bundle from the server's reply.

The private key never leaves the machine: only its public half goes to
``POST /api/v1/nodes/enroll`` (body ``{"token", "public_key"}``, public key unpadded base64url).
The reply (:meth:`provisioning.enrol.Enrolment.to_json`) carries the node's identity and the
documents; the trust bundle must verify with the root key it names, and with ``pinned_root``
when the admin passed one on (``--root-key``, printed by ``campuspass provision token``).
The network lives in an httpx transport (tests and alternative networks pass their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from campuspass import __version__
from edge.bundle import BundleError
from provisioning.node_bundle import (
    ensure_empty_target,
    node_config,
    require_safe_url,
    write_node_bundle,
)
from shared.enrolment import ServerDocuments
from shared.errors import CampusPassError, DocumentError
from shared.keys import b64u_encode, generate_key, public_key_bytes

ENROL_PATH = "/api/v1/nodes/enroll"


class EnrolClientError(CampusPassError):
    """The enrolment did not succeed. Code ``server_unreachable``, ``bad_reply``, or the server's own
    error code (``token_used``, ``token_expired``, ``unknown_token``, ...)."""

    code = "enrol_failed"


@dataclass(frozen=True)
class EnrolledNode:
    """A node enrolled from this machine: its id, public key and the bundle's check summary."""

    node_id: str
    public_key: bytes
    config_path: Path
    summary: list[str]


async def enroll(
    server_url: str, token: str, out: Path, *, pinned_root: bytes | None = None,
    transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 20.0, allow_plain_http: bool = False,
) -> EnrolledNode:
    """Enrol this machine as the node the token names and write its bundle into ``out``.

    Args:
        server_url: the server's base URL (``https://pass.example.edu``); written into ``node.toml``.
        token: the one-time enrolment token.
        out: the bundle folder (new or empty).
        pinned_root: the root public key (32 bytes) the server must present, when known.
        transport: httpx transport (default: real network).
        timeout_s: connect and read timeout, seconds.
        allow_plain_http: accept an ``http://`` URL to another machine (else ``plain_http``).

    Raises:
        BundleError: ``out`` already holds a bundle; ``root_mismatch`` (the server presents
            another root key than ``pinned_root``; the message says the token is used up and
            names the node to disable).
        EnrolClientError: the server refused (its code) or could not be reached.
        CampusPassError: the documents do not verify.
    """
    base = server_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise EnrolClientError(f"server URL {server_url!r}; expected http(s)://...", code="bad_server_url")
    require_safe_url(base, allow_plain_http)
    ensure_empty_target(out)
    key = generate_key()
    public = public_key_bytes(key)
    body = {"token": token.strip(), "public_key": b64u_encode(public), "software_version": __version__}
    try:
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout_s)) as client:
            resp = await client.post(base + ENROL_PATH, json=body)
    except httpx.HTTPError as exc:
        raise EnrolClientError(f"cannot reach {base}: {exc}", code="server_unreachable") from exc
    reply = _json(resp)
    if resp.status_code != 200:
        found = reply.get("error")
        err: dict[str, Any] = found if isinstance(found, dict) else {}
        raise EnrolClientError(
            f"the server refused the enrolment: {err.get('message', resp.reason_phrase)} (HTTP {resp.status_code})",
            code=str(err.get("code") or "enrol_failed"))
    node = reply.get("node")
    if not isinstance(node, dict) or not all(isinstance(node.get(k), str) for k in ("id", "building", "direction")):
        raise EnrolClientError("the server's reply has no node identity", code="bad_reply")
    try:
        docs = ServerDocuments.from_json(reply, pinned_root)
    except DocumentError as exc:
        if exc.code == "incomplete_documents":
            raise BundleError(exc.message) from None
        if exc.code != "root_mismatch":
            raise
        # The server has already used the token and registered this (discarded) key.
        raise BundleError(
            f"{exc.message}. Nothing was written, but the token is now used and node {node['id']} is "
            "registered with a key that was not kept: if this is your server (a mistyped --root-key), "
            f"have an admin disable node {node['id']} (campuspass server node disable) and make a new "
            "token with another name; otherwise this is not your campus server: report it",
            code="root_mismatch") from None
    direction = node["direction"]
    if direction not in ("entry", "exit"):
        raise EnrolClientError(f"the server's reply names direction {direction!r}", code="bad_reply")
    config = node_config(node["id"], building=node["building"], direction=direction,
                         name=str(node.get("name", "")), server_url=base, allow_plain_http=allow_plain_http)
    summary = write_node_bundle(out, config, key, docs)
    return EnrolledNode(node["id"], public, out / "node.toml", summary)


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        doc = resp.json()
    except ValueError:
        raise EnrolClientError(f"the server answered HTTP {resp.status_code} without JSON",
                               code="bad_reply") from None
    if not isinstance(doc, dict):
        raise EnrolClientError("the server's reply is not a JSON object", code="bad_reply")
    return doc

