"""Enrolled door nodes and the nonces of their signed requests (SQL only here).

Provisioning registers a node with :meth:`Nodes.register` (``campuspass provision node`` /
enrolment): its id, building, direction and Ed25519 public key. The sync API
(:mod:`server.web.nodes`) reads it back to check request signatures, remembers nonces with
:meth:`Nodes.use_nonce`, and the sync transaction updates the node's acknowledged position and
latest heartbeat (:mod:`server.storage.scans`).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from server.storage.database import Database
from shared.errors import CampusPassError

_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

NODE_COLUMNS = (
    "id, name, building, direction, public_key, enabled, created_at, last_seen_at, acked_seq, acked_hash, "
    "software_version, trust_version, revocation_version, policy_version, queue_depth, oldest_unsynced_at, "
    "clock_skew_s, heartbeat"
)


class NodeRegistrationError(CampusPassError):
    """A node cannot be registered. Codes: ``bad_node_id``, ``bad_key``, ``node_exists``,
    ``bad_direction``."""

    code = "node_registration"


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One enrolled node.

    Attributes:
        id: node id (1..64 of ``A-Z a-z 0-9 . _ -``), as in the node's ``node.toml``.
        name, building, direction: as enrolled (direction ``entry`` or ``exit``).
        public_key: the node's Ed25519 public key, 32 bytes.
        enabled: False once an admin disabled it (its requests are refused).
        created_at_s, last_seen_at_s: Unix seconds (last seen: last authenticated request).
        acked_seq, acked_hash: the highest sequence held contiguously (gaps recorded as
            anomalies count as held) and the hash of that record.
        software_version, trust_version, revocation_version, policy_version, queue_depth,
            oldest_unsynced_at_s, clock_skew_s: from the latest heartbeat (None before one).
        heartbeat: the latest heartbeat JSON object.
    """

    id: str
    name: str
    building: str
    direction: str
    public_key: bytes
    enabled: bool
    created_at_s: int
    last_seen_at_s: int | None
    acked_seq: int
    acked_hash: str
    software_version: str
    trust_version: int | None
    revocation_version: int | None
    policy_version: int | None
    queue_depth: int | None
    oldest_unsynced_at_s: int | None
    clock_skew_s: float | None
    heartbeat: dict[str, Any]


def node_from_row(row: sqlite3.Row | tuple[Any, ...]) -> NodeRow:
    """A :class:`NodeRow` from a row selected with :data:`NODE_COLUMNS`."""
    return NodeRow(
        id=row[0], name=row[1], building=row[2], direction=row[3], public_key=bytes(row[4]),
        enabled=bool(row[5]), created_at_s=row[6], last_seen_at_s=row[7], acked_seq=row[8], acked_hash=row[9],
        software_version=row[10], trust_version=row[11], revocation_version=row[12], policy_version=row[13],
        queue_depth=row[14], oldest_unsynced_at_s=row[15], clock_skew_s=row[16], heartbeat=json.loads(row[17]),
    )


class Nodes:
    """Repository of enrolled nodes and request nonces."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def register(
        self, node_id: str, *, building: str, public_key: bytes, now_s: int, name: str = "",
        direction: str = "entry",
    ) -> NodeRow:
        """Enrol a node (the provisioning entry point).

        Args:
            node_id: the id written into the node's ``node.toml``.
            building: building code (as in the policy document).
            public_key: the node's Ed25519 public key, 32 raw bytes.
            now_s: enrolment time, Unix seconds.
            name: human name for the fleet page.
            direction: ``entry`` or ``exit``.

        Raises:
            NodeRegistrationError: bad id, key or direction, or the id is taken.
        """
        if not _NODE_ID.match(node_id):
            raise NodeRegistrationError(f"node id {node_id!r}; expected 1..64 of A-Z a-z 0-9 . _ -",
                                        code="bad_node_id")
        if len(public_key) != 32:
            raise NodeRegistrationError(f"public key is {len(public_key)} bytes; expected 32", code="bad_key")
        if direction not in ("entry", "exit"):
            raise NodeRegistrationError(f"direction {direction!r}; expected entry or exit", code="bad_direction")
        try:
            async with self.db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO nodes (id, name, building, direction, public_key, created_at) VALUES (?,?,?,?,?,?)",
                    (node_id, name, building, direction, public_key, now_s),
                )
        except sqlite3.IntegrityError:
            raise NodeRegistrationError(f"node {node_id} is already enrolled", code="node_exists") from None
        node = await self.get(node_id)
        assert node is not None
        return node

    async def get(self, node_id: str) -> NodeRow | None:
        """The node ``node_id``, or None."""
        row = await self.db.fetch_one(f"SELECT {NODE_COLUMNS} FROM nodes WHERE id = ?", (node_id,))
        return None if row is None else node_from_row(row)

    async def all(self) -> list[NodeRow]:
        """Every node, by building then id."""
        rows = await self.db.fetch_all(f"SELECT {NODE_COLUMNS} FROM nodes ORDER BY building, id")
        return [node_from_row(r) for r in rows]

    async def set_enabled(self, node_id: str, enabled: bool) -> bool:
        """Enable or disable a node; returns False when there is no such node."""
        async with self.db.transaction() as conn:
            async with conn.execute("UPDATE nodes SET enabled = ? WHERE id = ?", (int(enabled), node_id)) as cur:
                return bool(cur.rowcount)

    async def use_nonce(self, node_id: str, nonce: str, now_s: int, window_s: int) -> bool:
        """Remember ``nonce`` for ``2 × window_s`` seconds; False when it was already used.

        Expired nonces are dropped in the same transaction (a request outside the window is
        refused for its timestamp, so an expired nonce cannot be replayed).
        """
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM node_nonces WHERE expires_at < ?", (now_s,))
            async with conn.execute(
                "INSERT INTO node_nonces (node_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (node_id, nonce, now_s + 2 * window_s),
            ) as cur:
                return bool(cur.rowcount)

    async def touch(self, node_id: str, now_s: int) -> None:
        """Record that the node was seen at ``now_s`` (an authenticated request)."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE nodes SET last_seen_at = ? WHERE id = ?", (now_s, node_id))
