"""Login failure counters per account and per address (SQL only here)."""

from __future__ import annotations

from dataclasses import dataclass

from server.storage.database import Database


@dataclass(frozen=True, slots=True)
class FailureCount:
    """Failures recorded for one key and when the last one happened (Unix seconds)."""

    failures: int
    last_failure_at_s: int


class LoginThrottleStore:
    """Repository of login failure counters, keyed ``account:<number>`` or ``address:<ip>``.

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

    async def record_failure(self, keys: list[str], now_s: int, forget_after_s: int) -> None:
        """Count one failure for each key; a counter idle longer than ``forget_after_s`` restarts at 1."""
        async with self.db.transaction() as conn:
            for key in keys:
                await conn.execute(
                    "INSERT INTO login_throttle (key, failures, last_failure_at) VALUES (?, 1, ?)"
                    " ON CONFLICT (key) DO UPDATE SET"
                    " failures = CASE WHEN ? - login_throttle.last_failure_at > ? THEN 1"
                    " ELSE login_throttle.failures + 1 END,"
                    " last_failure_at = excluded.last_failure_at",
                    (key, now_s, now_s, forget_after_s),
                )

    async def clear(self, key: str) -> None:
        """Forget the failures of one key (after a successful login)."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM login_throttle WHERE key = ?", (key,))

    async def forget_before(self, cutoff_s: int) -> int:
        """Drop counters whose last failure is older than ``cutoff_s``; returns how many."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM login_throttle WHERE last_failure_at < ?", (cutoff_s,))
            return cur.rowcount
