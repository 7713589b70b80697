"""Door node enrolment on the server (docs/architecture.md §9; issue 8).

Two ways to put a node into service:

* :func:`provision_node` (``campuspass provision node``): on the server machine, make the node
  key, register its public key and write the whole bundle; carry the folder to the Pi.
* :func:`create_token` (``campuspass provision token``, the enrolment page, the admin API), then
  on the Pi ``campuspass provision enroll`` (:mod:`provisioning.enrol_client`) makes the key
  locally and sends only the public key with the token to ``POST /api/v1/nodes/enroll``, served by
  :func:`enrol_with_token`. A token is single use and expires; only its SHA-256 is stored.

Disabling a node (:func:`set_node_enabled`) makes the server refuse its signed requests
(``node_disabled``, checked by the sync API).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.config import NodeConfig
from provisioning.node_bundle import (
    Direction,
    ServerDocuments,
    ensure_empty_target,
    node_config,
    require_building,
    require_safe_url,
    server_documents,
    write_node_bundle,
)
from server.datadir import DataDir
from server.storage import Database
from server.storage.enrolment import EnrolmentTokens, TokenRow
from server.storage.nodes import NodeRegistrationError, NodeRow, Nodes
from shared.clock import from_unix, to_unix
from shared.errors import CampusPassError
from shared.keys import generate_key, public_key_bytes

_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TOKEN_PREFIX = "cpe1_"
"""Every enrolment token starts with this (easy to recognise in a shell history or a ticket)."""
DEFAULT_TTL_S = 24 * 3600
MAX_TTL_S = 30 * 86400


class EnrolError(CampusPassError):
    """Enrolment refused. Codes: ``unknown_token``, ``token_used``, ``token_expired``,
    ``token_cancelled``, ``bad_name``, ``bad_ttl``, ``bad_direction``, ``bad_node_id``,
    ``node_exists``, ``token_pending``, ``unknown_node``."""

    code = "enrol"


def hash_token(token: str) -> str:
    """SHA-256 hex of the token text (what the database stores)."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh token: :data:`TOKEN_PREFIX` + 24 random bytes as base64url (32 characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


def choose_node_id(name: str, building: str, direction: str, node_id: str | None = None) -> str:
    """The node id: ``node_id`` when given, else ``name`` when it is a valid id (``d7-east-1``),
    else ``<building>-<direction>-<6 hex>`` (a name like "7号楼东门" is kept as the display name).

    Raises:
        EnrolError: code ``bad_node_id`` for an explicit id that is not 1..64 of ``A-Z a-z 0-9 . _ -``.
    """
    if node_id is not None:
        if not _NODE_ID.match(node_id):
            raise EnrolError(f"node id {node_id!r}; expected 1..64 of A-Z a-z 0-9 . _ -", code="bad_node_id")
        return node_id
    if _NODE_ID.match(name):
        return name
    base = re.sub(r"[^A-Za-z0-9._-]", "", building)[:40] or "node"
    return f"{base.lower()}-{direction}-{secrets.token_hex(3)}"


def _check_direction(direction: str) -> Direction:
    if direction not in ("entry", "exit"):
        raise EnrolError(f"direction {direction!r}; expected entry or exit", code="bad_direction")
    return "entry" if direction == "entry" else "exit"


@dataclass(frozen=True)
class ProvisionResult:
    """A node enrolled by :func:`provision_node`: its row and the bundle's check summary."""

    node: NodeRow
    config_path: Path
    summary: list[str]


async def provision_node(
    datadir: DataDir, db: Database, *, name: str, building: str, direction: str, server_url: str, out: Path,
    now: datetime, node_id: str | None = None, template: NodeConfig | None = None, allow_plain_http: bool = False,
) -> ProvisionResult:
    """Make a node key, write the complete bundle into ``out`` and register the public key.

    The bundle is written and checked first; if the registration then fails, its files are
    removed again, so a failed command leaves neither a half bundle nor an orphan node.

    Raises:
        BundleError: ``out`` already holds a bundle (``bundle_exists``).
        CampusPassError: ``unknown_building``; ``bad_name``; ``bad_direction``; ``bad_node_id``.
        NodeRegistrationError: ``node_exists`` (the id is taken).
        DataDirError: no issuer key can sign now.
        EnrolError: ``plain_http``: ``server_url`` is ``http://`` to another machine and
            ``allow_plain_http`` is false.
    """
    require_safe_url(server_url, allow_plain_http)
    if not name.strip() or len(name) > 100:
        raise EnrolError(f"node name {name[:40]!r}; expected 1..100 characters", code="bad_name")
    dir_ = _check_direction(direction)
    node_id = choose_node_id(name, building, dir_, node_id)
    ensure_empty_target(out)
    docs = await server_documents(datadir, db, now)
    require_building(docs, building)
    nodes = Nodes(db)
    if await nodes.get(node_id) is not None:
        raise NodeRegistrationError(f"node {node_id} is already enrolled", code="node_exists")
    key = generate_key()
    config = node_config(node_id, building=building, direction=dir_, name=name, server_url=server_url,
                         template=template, allow_plain_http=allow_plain_http)
    summary = write_node_bundle(out, config, key, docs)
    try:
        row = await nodes.register(node_id, building=building, public_key=public_key_bytes(key),
                                   now_s=to_unix(now), name=name, direction=dir_)
    except BaseException:
        for f in (config.files.root_pub, config.files.node_key, config.files.trust_bundle,
                  config.files.revocations, config.files.policy, "node.toml"):
            (out / f).unlink(missing_ok=True)
        raise
    return ProvisionResult(row, out / "node.toml", summary)


@dataclass(frozen=True)
class NewToken:
    """A token just made: its text (shown once, never stored) and its row."""

    token: str
    row: TokenRow


async def create_token(
    datadir: DataDir, db: Database, *, name: str, building: str, direction: str, now: datetime,
    ttl_s: int = DEFAULT_TTL_S, created_by: str = "", node_id: str | None = None,
) -> NewToken:
    """Make a one-time token that enrols one node (id, name, building, direction fixed now).

    Raises:
        EnrolError: ``bad_name`` (empty or over 100 characters), ``bad_ttl`` (not 60 s..30 days),
            ``bad_direction``, ``bad_node_id``, ``node_exists`` (already enrolled), ``token_pending``
            (a usable token for it exists).
        CampusPassError: ``unknown_building``.
    """
    if not name.strip() or len(name) > 100:
        raise EnrolError(f"node name {name[:40]!r}; expected 1..100 characters", code="bad_name")
    if not 60 <= ttl_s <= MAX_TTL_S:
        raise EnrolError(f"token lifetime {ttl_s} s; expected 60 s to {MAX_TTL_S // 86400} days", code="bad_ttl")
    dir_ = _check_direction(direction)
    node_id = choose_node_id(name, building, dir_, node_id)
    now_s = to_unix(now)
    docs = await server_documents(datadir, db, now)
    require_building(docs, building)
    if await Nodes(db).get(node_id) is not None:
        raise EnrolError(f"node {node_id} is already enrolled", code="node_exists")
    tokens = EnrolmentTokens(db)
    if await tokens.pending_for_node(node_id, now_s) is not None:
        raise EnrolError(f"a usable enrolment token for node {node_id} already exists; cancel it or wait "
                         "for it to expire", code="token_pending")
    token = new_token()
    row = await tokens.create(token_hash=hash_token(token), node_id=node_id, name=name, building=building,
                              direction=dir_, created_by=created_by, now_s=now_s, expires_at_s=now_s + ttl_s)
    if row is None:  # another request created one since the check above
        raise EnrolError(f"a usable enrolment token for node {node_id} already exists; cancel it or wait "
                         "for it to expire", code="token_pending")
    return NewToken(token, row)


@dataclass(frozen=True)
class Enrolment:
    """The server's answer to an enrolment: the node as registered and its documents."""

    node: NodeRow
    documents: ServerDocuments

    def to_json(self) -> dict[str, Any]:
        """``{"node": {"id", "name", "building", "direction"}, "root_public", "trust_bundle",
        "revocations", "policy", "server_time_s"}`` (the body of ``POST /api/v1/nodes/enroll``)."""
        node = {"id": self.node.id, "name": self.node.name, "building": self.node.building,
                "direction": self.node.direction}
        return {"node": node, **self.documents.to_json()}


async def enrol_with_token(
    datadir: DataDir, db: Database, *, token: str, public_key: bytes, now: datetime, address: str = "",
) -> Enrolment:
    """Consume ``token`` and register ``public_key`` as the node it names.

    Raises:
        EnrolError: ``unknown_token``, ``token_used``, ``token_expired``, ``token_cancelled``.
        NodeRegistrationError: ``bad_key`` (not 32 bytes), ``node_exists`` (the token is then
            left unused).
        DataDirError: no issuer key can sign now.
    """
    now_s = to_unix(now)
    tokens = EnrolmentTokens(db)
    row = await tokens.by_hash(hash_token(token))
    if row is None:
        raise EnrolError("this enrolment token is not known; ask an admin for a new one", code="unknown_token")
    _refuse_unusable(row, now_s)
    if len(public_key) != 32:
        raise NodeRegistrationError(f"public key is {len(public_key)} bytes; expected 32", code="bad_key")
    docs = await server_documents(datadir, db, now)
    if not await tokens.claim(row.id, now_s, address):
        fresh = await tokens.by_hash(row.token_hash)
        _refuse_unusable(fresh or row, now_s)
        raise EnrolError("this enrolment token was used meanwhile", code="token_used")
    try:
        node = await Nodes(db).register(row.node_id, building=row.building, public_key=public_key, now_s=now_s,
                                        name=row.name, direction=row.direction)
    except BaseException:
        await tokens.release(row.id)
        raise
    return Enrolment(node, docs)


def _refuse_unusable(row: TokenRow, now_s: int) -> None:
    state = row.state(now_s)
    if state == "used":
        raise EnrolError(f"this enrolment token was already used (node {row.node_id}); ask an admin for a new one",
                         code="token_used")
    if state == "cancelled":
        raise EnrolError("this enrolment token was cancelled; ask an admin for a new one", code="token_cancelled")
    if state == "expired":
        raise EnrolError(f"this enrolment token expired at {from_unix(row.expires_at_s):%Y-%m-%d %H:%M}Z; ask an "
                         "admin for a new one", code="token_expired")


async def set_node_enabled(db: Database, node_id: str, enabled: bool) -> NodeRow:
    """Enable or disable a node; a disabled node's signed requests are refused (``node_disabled``).

    Raises:
        EnrolError: code ``unknown_node``.
    """
    nodes = Nodes(db)
    if not await nodes.set_enabled(node_id, enabled):
        raise EnrolError(f"no node {node_id!r}", code="unknown_node")
    row = await nodes.get(node_id)
    assert row is not None
    return row
