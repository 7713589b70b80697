"""Door node enrolment, the server's side (docs/raspberry-pi.md, "Enrolment").

An admin makes a one-time token (:func:`create_token`: ``campuspass provision token``, the
enrolment page, the admin API) that fixes the node's id, name, building and direction. On the Pi,
``campuspass provision enroll`` makes the node key locally and sends only the public key with the
token to ``POST /api/v1/nodes/enroll``, served by :func:`enrol_with_token`, which answers with the
documents a new node needs (:func:`server_documents`). A token is single use and expires; only its
SHA-256 is stored. ``campuspass provision node`` (in the provisioning package) instead makes the key
on the server machine and writes the whole bundle.

Disabling a node (:func:`set_node_enabled`) makes the server refuse its signed requests
(``node_disabled``, checked by the sync API).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from server.datadir import DataDir
from server.passes import signed_revocation_delta
from server.policy import signed_policy_document
from server.storage import Database
from server.storage.buildings import Buildings
from server.storage.enrolment import EnrolmentTokens, TokenRow
from server.storage.nodes import NodeRegistrationError, NodeRow, Nodes
from server.storage.passes import Passes
from shared.clock import from_unix, to_unix
from shared.enrolment import ServerDocuments
from shared.errors import CampusPassError
from shared.policy import parse_policy_document

Direction = Literal["entry", "exit"]
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


def check_direction(direction: str) -> Direction:
    if direction not in ("entry", "exit"):
        raise EnrolError(f"direction {direction!r}; expected entry or exit", code="bad_direction")
    return "entry" if direction == "entry" else "exit"


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
    dir_ = check_direction(direction)
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


async def server_documents(datadir: DataDir, db: Database, now: datetime) -> ServerDocuments:
    """Gather the documents for a new node at ``now``.

    Raises:
        DataDirError: not a data directory, or no issuer key can sign now.
    """
    now_s = to_unix(now)
    signer = datadir.current_signer(now)
    return ServerDocuments(
        root_public=datadir.root_public(),
        trust_bundle=datadir.trust_bundle(),
        revocations=await signed_revocation_delta(datadir, Passes(db), 0, now),
        policy=await signed_policy_document(Buildings(db), signer.key, signer.key_id, now_s),
        server_time_s=now_s,
    )


def require_building(docs: ServerDocuments, building: str) -> None:
    """Check that the policy names ``building`` (a node elsewhere could not decide).

    Raises:
        CampusPassError: code ``unknown_building`` (the message lists the known codes).
    """
    parse_policy_document(docs.policy).for_building(building)
