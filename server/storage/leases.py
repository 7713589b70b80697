"""Job leases: which server process runs a periodic job's round (docs/deploy.md, "Several processes").

Several server processes on one PostgreSQL database each run the job loops of
:mod:`server.jobs`; a round of a job that must happen once (reminders, expiry, holds, retention,
housekeeping, the figures of past days) first takes the job's lease for its period. Periods are
aligned to the Unix epoch (round ``k`` of a job with period ``p`` seconds covers
``[k * p, (k + 1) * p)``); the lease row keeps the last period taken, so exactly one process takes
each period, whichever wakes first. The same table serves SQLite, where there is one process.
"""

from __future__ import annotations

from server.storage.database import Database


class JobLeases:
    """The ``job_leases`` table.

    Args:
        db: the server database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def take(self, name: str, period: int, holder: str, now_s: int) -> bool:
        """Take job ``name``'s lease for period number ``period`` (``floor(now_s / period_s)``).

        Args:
            name: the job's name.
            period: the period number.
            holder: who takes it, for the record (``host:pid``).
            now_s: now, Unix seconds.

        Returns:
            True when this caller took it (run the round); False when someone already took this
            period or a later one (skip the round).
        """
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO job_leases (name, period, holder, taken_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET period = excluded.period, holder = excluded.holder,"
                " taken_at = excluded.taken_at WHERE job_leases.period < excluded.period",
                (name, period, holder, now_s))
            return cur.rowcount == 1

    async def holders(self) -> dict[str, tuple[int, str]]:
        """``{job name: (last period taken, holder)}``."""
        return {r[0]: (int(r[1]), r[2]) for r in await self.db.fetch_all("SELECT name, period, holder FROM job_leases")}
