"""Writing audit entries from a handler: who (the logged-in user), when (the app clock), from
where (the client address), what, about whom."""

from __future__ import annotations

from typing import Any

import aiosqlite
from aiohttp import web

from server.storage.audit import AuditLog
from server.web import auth, state
from shared.clock import to_unix


async def record(
    request: web.Request,
    conn: aiosqlite.Connection,
    action: str,
    *,
    target_person_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append an audit entry inside the caller's transaction ``conn``.

    Use for every admin action and every view of a person's health data
    (``action="health_view"``, ``target_person_id`` = whose data).

    Raises:
        NotLoggedIn: no session (audited actions always have an actor).
    """
    user = await auth.require_user(request)
    await AuditLog.add(conn, at_s=to_unix(request.app[state.CLOCK].now()), actor_id=user.id,
                       actor_number=user.person.number, action=action, target_person_id=target_person_id,
                       detail=detail, address=auth.client_address(request))


async def record_now(
    request: web.Request, action: str, *, target_person_id: int | None = None, detail: dict[str, Any] | None = None
) -> None:
    """:func:`record` in its own transaction (for reads such as viewing health data)."""
    async with request.app[state.SERVICES].db.transaction() as conn:
        await record(request, conn, action, target_person_id=target_person_id, detail=detail)
