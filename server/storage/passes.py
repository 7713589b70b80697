"""Issued passes and the revocation list (SQL only here)."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from server.storage.database import Database, order_lock
from shared.pass_format import PassFields
from shared.revocation import RevocationEntry

SUBJECT_ENTRY_S = 2 * 86400
"""Least lifetime of a subject revocation entry (seconds): longer than any person's pass lives (a
pass expires at the next day's check-in deadline, at most 36 hours after it was signed)."""

REVOCATION_HISTORY_S = 35 * 86400
"""How long an expired revocation entry stays on the server (seconds): past the default scan
retention (28 days), so an offline door's late upload is still checked against it."""


@dataclass(frozen=True, slots=True)
class IssuedPass:
    """A pass the server signed: its fields, who it is for, and when and by whom it was issued."""

    fields: PassFields
    person_id: int | None
    visitor_name: str | None
    issued_at_s: int
    issued_by: str


class Passes:
    """Repository of issued passes and revocations."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        fields: PassFields,
        *,
        issued_at_s: int,
        issued_by: str,
        person_id: int | None = None,
        visitor_name: str | None = None,
        conn: aiosqlite.Connection | None = None,
    ) -> None:
        """Store an issued pass (serials are unique), inside ``conn`` (the caller's transaction)
        when given, else in a transaction of its own."""
        row = (
            fields.serial,
            fields.subject,
            person_id,
            visitor_name,
            fields.key_id,
            fields.status.name.lower(),
            ",".join(str(g) for g in fields.scope),
            fields.valid_from_s,
            fields.valid_until_s,
            issued_at_s,
            issued_by,
        )
        sql = ("INSERT INTO passes (serial, subject, person_id, visitor_name, key_id, status, scope,"
               " valid_from, valid_until, issued_at, issued_by) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
        if conn is not None:
            await conn.execute(sql, row)
            return
        async with self.db.transaction() as own:
            await own.execute(sql, row)

    async def revoke_serial(
        self, serial: bytes, expires_s: int, reason: str, by: str, now_s: int
    ) -> int:
        """Put one pass serial on the revocation list; returns the new list version."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO revocations (serial, expires_at, reason, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?) RETURNING version",
                (serial, expires_s, reason, now_s, by),
            ) as cur:
                inserted = await cur.fetchone()
                return int(inserted[0]) if inserted else 0

    async def revoke_unexpired_of_subject(self, subject: bytes, reason: str, by: str, now_s: int) -> list[int]:
        """Revoke every unexpired pass of ``subject`` (one serial entry each) in a transaction of
        its own; returns the new list versions."""
        async with self.db.transaction() as conn:
            return await self.revoke_unexpired_of_subject_in(conn, subject, reason, by, now_s)

    @staticmethod
    async def revoke_unexpired_of_subject_in(conn: aiosqlite.Connection, subject: bytes, reason: str, by: str,
                                             now_s: int) -> list[int]:
        """Like :meth:`revoke_unexpired_of_subject`, inside the caller's transaction.

        Writes one serial entry for each unexpired pass of ``subject`` the server has a record
        of, then one subject entry "every pass of ``subject`` valid from before ``now_s``"
        (docs/architecture.md §3, §5) lasting :data:`SUBJECT_ENTRY_S` or until the last of those
        passes expires: it also covers a pass of the person the server has no record of (signed
        by a second server process in the same moment, restored from a backup, or signed by
        hand with a valid-from in the past). A pass signed from ``now_s`` on is not covered.
        Returns the new list versions (the subject entry's last); versions become visible in
        order (:func:`server.storage.database.order_lock`), so a node paging by version misses none."""
        await order_lock(conn, "revocations")
        versions = []
        async with conn.execute(
            "SELECT serial, valid_until FROM passes WHERE subject = ? AND valid_until > ?"
            " AND serial NOT IN (SELECT serial FROM revocations WHERE serial IS NOT NULL)",
            (subject, now_s),
        ) as cur:
            rows = list(await cur.fetchall())
        for serial, until in rows:
            async with conn.execute(
                "INSERT INTO revocations (serial, expires_at, reason, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?) RETURNING version",
                (serial, until, reason, now_s, by),
            ) as cur:
                inserted = await cur.fetchone()
                versions.append(int(inserted[0]) if inserted else 0)
        expires = max([now_s + SUBJECT_ENTRY_S, *(int(until) for _, until in rows)])
        async with conn.execute(
            "INSERT INTO revocations (subject, before_at, expires_at, reason, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING version",
            (subject, now_s, expires, reason, now_s, by),
        ) as cur:
            inserted = await cur.fetchone()
            versions.append(int(inserted[0]) if inserted else 0)
        return versions

    async def revocation_version(self) -> int:
        """The highest revocation list version (0 when empty)."""
        row = await self.db.fetch_one("SELECT COALESCE(MAX(version), 0) FROM revocations")
        return int(row[0]) if row else 0

    async def revocations_since(self, since: int, now_s: int) -> list[RevocationEntry]:
        """Entries added after version ``since`` that have not expired at ``now_s``."""
        rows = await self.db.fetch_all(
            "SELECT version, serial, subject, before_at, expires_at FROM revocations"
            " WHERE version > ? AND expires_at > ? ORDER BY version",
            (since, now_s),
        )
        return [
            RevocationEntry(
                version=r[0],
                expires_s=r[4],
                serial=bytes(r[1]) if r[1] is not None else None,
                subject=bytes(r[2]) if r[2] is not None else None,
                before_s=r[3],
            )
            for r in rows
        ]

    async def purge_expired_revocations(self, now_s: int, keep_s: int | None = None) -> int:
        """Delete entries whose passes expired more than ``keep_s`` seconds ago (default
        :data:`REVOCATION_HISTORY_S`); keeps the max version row. Nodes never get an expired
        entry (:meth:`revocations_since`); the server keeps them a while to flag a late upload
        of an offline door that admitted a revoked pass (:mod:`server.scan_flags`)."""
        keep_s = REVOCATION_HISTORY_S if keep_s is None else keep_s
        async with self.db.transaction() as conn:
            async with conn.execute(
                "DELETE FROM revocations WHERE expires_at <= ?"
                " AND version < (SELECT MAX(version) FROM revocations)",
                (now_s - keep_s,),
            ) as cur:
                return int(cur.rowcount or 0)
