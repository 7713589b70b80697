"""The audit log: admin actions and every view of a person's health data (SQL only here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiosqlite

from server.storage.database import Database

ACTIONS: frozenset[str] = frozenset({
    # people and accounts
    "admin_created", "admin_role", "admin_password", "password_reset", "roster_import", "health_view",
    "export", "checkin_reminders", "sms_retry", "tracing_query",
    # the workflow and pass status (``application_<action>`` from server.workflow.applications)
    "application_dept_approve", "application_dept_reject", "application_school_approve",
    "application_school_reject", "application_revoke", "arrival_confirmed",
    "pass_hold", "pass_hold_cleared", "pass_revoke", "pass_dormitory",
    # buildings, nodes, housekeeping
    "building_add", "building_group_set", "building_capacity", "node_enrolled", "enrolment_token_created",
    "enrolment_token_cancelled", "node_enabled", "node_disabled", "scan_retention", "doctor_repair",
})
"""Every action the audit log records: a closed set, so that the admin pages can show each one
in words (``audit_action`` of the text catalogue, ``server/texts/``, has a text for each in every language,
pinned by a test).
A new kind of entry is added here first; :meth:`AuditLog.add` refuses any other."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record: when (Unix seconds), who, what, about whom, details, from where."""

    id: int
    at_s: int
    actor_id: int | None
    actor_number: str
    action: str
    target_person_id: int | None
    detail: dict[str, Any]
    address: str


class AuditLog:
    """Repository of audit entries.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def add(
        conn: aiosqlite.Connection,
        *,
        at_s: int,
        actor_id: int | None,
        actor_number: str,
        action: str,
        target_person_id: int | None = None,
        detail: dict[str, Any] | None = None,
        address: str = "",
    ) -> None:
        """Append an entry inside the caller's transaction (so it commits with the action).

        Raises:
            ValueError: ``action`` is not one of :data:`ACTIONS` (a programming error: add it there
                and give it a text in every language).
        """
        if action not in ACTIONS:
            raise ValueError(f"audit action {action!r} is not one of server.storage.audit.ACTIONS")
        await conn.execute(
            "INSERT INTO audit_log (at, actor_id, actor_number, action, target_person_id, detail, address)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (at_s, actor_id, actor_number, action, target_person_id,
             json.dumps(detail or {}, ensure_ascii=False, sort_keys=True), address),
        )

    async def recent(
        self, *, limit: int = 100, target_person_id: int | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        """Newest entries first, optionally about one person or of one action."""
        where: list[str] = []
        params: list[Any] = []
        if target_person_id is not None:
            where.append("target_person_id = ?")
            params.append(target_person_id)
        if action is not None:
            where.append("action = ?")
            params.append(action)
        sql = "SELECT id, at, actor_id, actor_number, action, target_person_id, detail, address FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        rows = await self.db.fetch_all(sql, params)
        return [
            AuditEntry(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows
        ]
