"""Login attempt counters per key and one-time login codes (SQL only here).

Keys are ``pair:<number>|<address>``, ``account:<number>`` and ``address:<ip>``
(:class:`server.throttle.LoginThrottle` names them). A counter counts attempts that are not
known to have succeeded: an attempt is counted *before* its password hash runs (a reservation)
and refunded when it succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiosqlite

from server.storage.database import Database


@dataclass(frozen=True, slots=True)
class FailureCount:
    """Attempts counted for one key and when the last one was counted (Unix seconds)."""

    failures: int
    last_failure_at_s: int


@dataclass(frozen=True, slots=True)
class LoginCode:
    """A pending one-time login code (hashed) of one person, with its limits; Unix seconds."""

    code_hash: bytes
    sent_at_s: int
    expires_at_s: int
    tries_left: int
    sends_in_window: int
    window_start_at_s: int


class LoginThrottleStore:
    """Repository of login attempt counters and login codes.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_many(self, keys: list[str]) -> dict[str, FailureCount]:
        """The counters of ``keys`` that exist."""
        rows = await self.db.fetch_all(
            f"SELECT key, failures, last_failure_at FROM login_throttle WHERE key IN ({','.join('?' * len(keys))})",
            keys,
        )
        return {r[0]: FailureCount(int(r[1]), int(r[2])) for r in rows}

    async def reserve(self, keys: list[str], now_s: int, forget_after_s: int,
                      admit: Callable[[dict[str, FailureCount]], None]) -> None:
        """Count one attempt for every key, atomically with the decision to allow it.

        In one write transaction: read the counters of ``keys``, call ``admit(counters)`` (which
        raises to refuse: nothing is written then), and add one to each counter (a counter idle
        longer than ``forget_after_s`` restarts at 1). Concurrent reservations are serialised by
        the write transaction, so no more attempts get through than the counters allow.
        """
        async with self.db.transaction() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT key, failures, last_failure_at FROM login_throttle WHERE key IN ({','.join('?' * len(keys))})",
                keys,
            )
            admit({r[0]: FailureCount(int(r[1]), int(r[2])) for r in rows})
            for key in keys:
                await conn.execute(
                    "INSERT INTO login_throttle (key, failures, last_failure_at) VALUES (?, 1, ?)"
                    " ON CONFLICT (key) DO UPDATE SET"
                    " failures = CASE WHEN ? - login_throttle.last_failure_at > ? THEN 1"
                    " ELSE login_throttle.failures + 1 END,"
                    " last_failure_at = excluded.last_failure_at",
                    (key, now_s, now_s, forget_after_s),
                )

    async def refund(self, clear: list[str], decrement: list[str]) -> None:
        """After a success: delete the counters ``clear`` and take one off each of ``decrement``."""
        async with self.db.transaction() as conn:
            for key in clear:
                await conn.execute("DELETE FROM login_throttle WHERE key = ?", (key,))
            for key in decrement:
                await conn.execute(
                    "UPDATE login_throttle SET failures = failures - 1 WHERE key = ? AND failures > 0", (key,))

    async def clear(self, keys: list[str]) -> None:
        """Forget the counters of ``keys`` (admin reset)."""
        async with self.db.transaction() as conn:
            for key in keys:
                await conn.execute("DELETE FROM login_throttle WHERE key = ?", (key,))

    async def clear_prefix(self, prefix: str) -> None:
        """Forget every counter whose key starts with ``prefix`` (an account's per-address pairs)."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM login_throttle WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))

    async def forget_before(self, cutoff_s: int) -> int:
        """Drop counters whose last attempt is older than ``cutoff_s``; returns how many."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM login_throttle WHERE last_failure_at < ?", (cutoff_s,))
            return cur.rowcount

    # -- one-time login codes ------------------------------------------------------------------

    async def login_code(self, person_id: int) -> LoginCode | None:
        """The pending login code of a person, or None."""
        row = await self.db.fetch_one(
            "SELECT code_hash, sent_at, expires_at, tries_left, sends_in_window, window_start_at"
            " FROM login_codes WHERE person_id = ?", (person_id,))
        if row is None:
            return None
        return LoginCode(bytes(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]))

    @staticmethod
    async def put_login_code(conn: aiosqlite.Connection, person_id: int, code: LoginCode) -> None:
        """Store (replace) the pending login code inside the caller's transaction."""
        await conn.execute(
            "INSERT INTO login_codes (person_id, code_hash, sent_at, expires_at, tries_left, sends_in_window,"
            " window_start_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (person_id) DO UPDATE SET code_hash = excluded.code_hash, sent_at = excluded.sent_at,"
            " expires_at = excluded.expires_at, tries_left = excluded.tries_left,"
            " sends_in_window = excluded.sends_in_window, window_start_at = excluded.window_start_at",
            (person_id, code.code_hash, code.sent_at_s, code.expires_at_s, code.tries_left, code.sends_in_window,
             code.window_start_at_s),
        )

    async def use_login_code(self, person_id: int, *, consume: bool) -> None:
        """Count one try of the login code; ``consume`` invalidates it (used once)."""
        async with self.db.transaction() as conn:
            if consume:
                await conn.execute("UPDATE login_codes SET tries_left = 0, expires_at = 0 WHERE person_id = ?",
                                   (person_id,))
            else:
                await conn.execute("UPDATE login_codes SET tries_left = CASE WHEN tries_left > 0 THEN tries_left - 1 ELSE 0 END WHERE person_id = ?",
                                   (person_id,))
