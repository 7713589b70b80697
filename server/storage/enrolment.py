"""One-time door node enrolment tokens (SQL only here; the service is :mod:`server.enrolment`).

A token is stored as the SHA-256 hex of its text, with the node it enrols (id, name, building,
direction), its expiry and, once used, when and from which address. Claiming is one
conditional ``UPDATE``, so two requests racing with the same token cannot both win.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from server.storage.database import Database

TOKEN_COLUMNS = (
    "id, token_hash, node_id, name, building, direction, created_at, created_by, expires_at, used_at, "
    "used_from, cancelled_at"
)

TokenState = Literal["pending", "used", "expired", "cancelled"]


@dataclass(frozen=True, slots=True)
class TokenRow:
    """One enrolment token (never its text).

    Attributes:
        id: row id.
        token_hash: SHA-256 hex of the token text.
        node_id, name, building, direction: the node the token enrols.
        created_at_s, expires_at_s: Unix seconds.
        created_by: who made it (a username, or ``cli``).
        used_at_s: when it was used (None: not yet); used_from: the client address then.
        cancelled_at_s: when an admin cancelled it (None: not cancelled).
    """

    id: int
    token_hash: str
    node_id: str
    name: str
    building: str
    direction: str
    created_at_s: int
    created_by: str
    expires_at_s: int
    used_at_s: int | None
    used_from: str
    cancelled_at_s: int | None

    def state(self, now_s: int) -> TokenState:
        """``used``, ``cancelled``, ``expired`` (at or after ``expires_at_s``) or ``pending``."""
        if self.used_at_s is not None:
            return "used"
        if self.cancelled_at_s is not None:
            return "cancelled"
        if now_s >= self.expires_at_s:
            return "expired"
        return "pending"


def _row(row: sqlite3.Row | tuple[Any, ...]) -> TokenRow:
    return TokenRow(*tuple(row))


class EnrolmentTokens:
    """Repository of enrolment tokens."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, *, token_hash: str, node_id: str, name: str, building: str, direction: str, created_by: str,
        now_s: int, expires_at_s: int,
    ) -> TokenRow | None:
        """Store a new token (by its hash) and return it; None when a usable token for ``node_id``
        exists at ``now_s`` (checked in the same statement, so two concurrent requests cannot
        both create one)."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO enrolment_tokens (token_hash, node_id, name, building, direction, created_at, "
                "created_by, expires_at) SELECT ?,?,?,?,?,?,?,? WHERE NOT EXISTS (SELECT 1 FROM enrolment_tokens "
                "WHERE node_id = ? AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > ?) RETURNING id",
                (token_hash, node_id, name, building, direction, now_s, created_by, expires_at_s, node_id, now_s),
            ) as cur:
                inserted = await cur.fetchone()
                if inserted is None:
                    return None
                token_id = inserted[0]
        row = await self.db.fetch_one(f"SELECT {TOKEN_COLUMNS} FROM enrolment_tokens WHERE id = ?", (token_id,))
        assert row is not None
        return _row(row)

    async def by_hash(self, token_hash: str) -> TokenRow | None:
        """The token whose text hashes to ``token_hash``, or None."""
        row = await self.db.fetch_one(
            f"SELECT {TOKEN_COLUMNS} FROM enrolment_tokens WHERE token_hash = ?", (token_hash,))
        return None if row is None else _row(row)

    async def pending_for_node(self, node_id: str, now_s: int) -> TokenRow | None:
        """A usable token that enrols ``node_id``, or None."""
        row = await self.db.fetch_one(
            f"SELECT {TOKEN_COLUMNS} FROM enrolment_tokens WHERE node_id = ? AND used_at IS NULL "
            "AND cancelled_at IS NULL AND expires_at > ? ORDER BY id DESC LIMIT 1", (node_id, now_s))
        return None if row is None else _row(row)

    async def claim(self, token_id: int, now_s: int, address: str) -> bool:
        """Mark the token used at ``now_s`` if it is still pending; False when it is not
        (used, cancelled or expired meanwhile)."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "UPDATE enrolment_tokens SET used_at = ?, used_from = ? WHERE id = ? AND used_at IS NULL "
                "AND cancelled_at IS NULL AND expires_at > ?", (now_s, address, token_id, now_s),
            ) as cur:
                return cur.rowcount == 1

    async def release(self, token_id: int) -> None:
        """Undo :meth:`claim` (the registration that followed it failed)."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE enrolment_tokens SET used_at = NULL, used_from = '' WHERE id = ?",
                               (token_id,))

    async def cancel(self, token_id: int, now_s: int) -> bool:
        """Cancel a pending token; False when there is no such pending token."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "UPDATE enrolment_tokens SET cancelled_at = ? WHERE id = ? AND used_at IS NULL "
                "AND cancelled_at IS NULL", (now_s, token_id),
            ) as cur:
                return cur.rowcount == 1

    async def recent(self, limit: int = 100) -> list[TokenRow]:
        """The newest ``limit`` tokens, newest first."""
        rows = await self.db.fetch_all(
            f"SELECT {TOKEN_COLUMNS} FROM enrolment_tokens ORDER BY id DESC LIMIT ?", (limit,))
        return [_row(r) for r in rows]
