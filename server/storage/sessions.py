"""Server-side login sessions (SQL only here).

The browser's cookie carries a random 32-byte token; the table stores only its SHA-256, so a
copy of the database cannot be replayed as cookies. Each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from server.storage.database import Database

log = logging.getLogger(__name__)

TOUCH_FLUSH_EVERY_S = 5.0
"""How often :class:`SessionTouches` writes the remembered touches (seconds)."""


def token_hash(token: str) -> bytes:
    """SHA-256 of the cookie token (32 bytes)."""
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A live session: whose it is, its CSRF token and its lifetime (Unix seconds)."""

    person_id: int
    csrf_token: str
    created_at_s: int
    last_seen_at_s: int
    expires_at_s: int


class Sessions:
    """Repository of sessions.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, token: str, person_id: int, csrf_token: str, now_s: int, expires_at_s: int, address: str
    ) -> None:
        """Store a new session for ``token`` (the cookie value)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO sessions (token_hash, person_id, csrf_token, created_at, last_seen_at,"
                " expires_at, address) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_hash(token), person_id, csrf_token, now_s, now_s, expires_at_s, address),
            )

    async def create_many(self, sessions: list[tuple[str, int, str]], now_s: int, expires_at_s: int,
                          address: str) -> None:
        """Store many sessions in one transaction: ``(token, person_id, csrf_token)`` each (for
        load tests and bulk provisioning; logins use :meth:`create`)."""
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO sessions (token_hash, person_id, csrf_token, created_at, last_seen_at,"
                " expires_at, address) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(token_hash(t), pid, csrf, now_s, now_s, expires_at_s, address) for t, pid, csrf in sessions],
            )

    async def get(self, token: str, now_s: int) -> SessionRow | None:
        """The unexpired session of ``token``, or None."""
        row = await self.db.fetch_one(
            "SELECT person_id, csrf_token, created_at, last_seen_at, expires_at FROM sessions"
            " WHERE token_hash = ? AND expires_at > ?",
            (token_hash(token), now_s),
        )
        if row is None:
            return None
        return SessionRow(int(row[0]), row[1], int(row[2]), int(row[3]), int(row[4]))

    async def touch(self, token: str, now_s: int, expires_at_s: int) -> None:
        """Slide the session's expiry (called at most once a minute per session)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?",
                (now_s, expires_at_s, token_hash(token)),
            )

    async def touch_many(self, touches: Iterable[tuple[bytes, int, int]]) -> None:
        """Slide many sessions in one transaction: ``(token_hash, last_seen_at_s,
        expires_at_s)`` each (the batched touches of :class:`SessionTouches`);
        a session deleted meanwhile is skipped."""
        async with self.db.transaction() as conn:
            await conn.executemany(
                "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?",
                [(seen_s, expires_s, h) for h, seen_s, expires_s in touches],
            )

    async def delete(self, token: str) -> None:
        """End one session (logout)."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))

    async def delete_for_person(self, person_id: int, *, except_token: str | None = None) -> int:
        """End every session of a person (password change or reset); returns how many."""
        async with self.db.transaction() as conn:
            if except_token is None:
                cur = await conn.execute("DELETE FROM sessions WHERE person_id = ?", (person_id,))
            else:
                cur = await conn.execute(
                    "DELETE FROM sessions WHERE person_id = ? AND token_hash <> ?",
                    (person_id, token_hash(except_token)),
                )
            return cur.rowcount

    async def delete_expired(self, now_s: int) -> int:
        """Drop expired sessions; returns how many."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now_s,))
            return cur.rowcount


class SessionTouches:
    """Session touches (``last_seen_at`` and the sliding expiry) remembered in memory and
    written in one transaction by :meth:`flush`, instead of one write transaction per request:
    in a morning rush every session is older than :data:`server.web.auth.TOUCH_EVERY_S`, so each first request
    would otherwise pay an extra write. Only sessions with more than
    :data:`server.web.auth.TOUCH_INLINE_WITHIN_S` seconds left are batched, so a pending touch never lets a
    session lapse; a session deleted meanwhile (logout) is simply not updated.

    Args:
        sessions: the sessions repository to write through.
    """

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self._pending: dict[bytes, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def note(self, token_hash: bytes, now_s: int, expires_at_s: int) -> None:
        """Remember that the session was used at ``now_s`` and now expires at ``expires_at_s``
        (Unix seconds); a later note of the same session replaces it."""
        self._pending[token_hash] = (now_s, expires_at_s)

    async def flush(self) -> int:
        """Write every remembered touch in one transaction; returns how many. On a storage error
        the touches are kept (newer notes win) for the next flush and the error is raised."""
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            await self.sessions.touch_many((h, seen, expires) for h, (seen, expires) in pending.items())
        except BaseException:
            for h, touch in pending.items():
                self._pending.setdefault(h, touch)
            raise
        return len(pending)
