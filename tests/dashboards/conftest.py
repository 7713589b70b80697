"""Fixtures for dashboard tests: the server and workflow fixtures plus a small roster with
phone numbers and check-ins submitted through the check-in service."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from aiohttp import web

from server.storage.people import NewPerson, People, Person
from server.web import state
from shared.clock import to_unix
from tests.server.conftest import START, app, client, clock, datadir, sent_sms  # noqa: F401
from tests.workflow.conftest import Login, checkin_body, login, server_tz  # noqa: F401

__all__ = ["START", "Login", "add_people", "checkin", "person", "sent_sms"]


async def add_people(app: web.Application, rows: Sequence[tuple[str, str, str | None, str | None]],  # noqa: F811
                     *, role: str = "student") -> None:
    """Insert people straight into storage: ``(number, department, class_name, phone)`` each
    (name ``Name <number>``; the initial password is never used here)."""
    now_s = to_unix(app[state.CLOCK].now())
    async with app[state.SERVICES].db.transaction() as conn:
        for number, dept, class_name, phone in rows:
            await People.upsert_department(conn, dept, f"Dept {dept}")
            await People.upsert(conn, NewPerson(number, f"Name {number}", role, dept, class_name,  # type: ignore[arg-type]
                                                phone, "x", secrets.token_bytes(8)), now_s)


async def person(app: web.Application, number: str) -> Person:  # noqa: F811
    found = await People(app[state.SERVICES].db).by_number(number)
    assert found is not None, number
    return found


async def checkin(app: web.Application, number: str, *, abnormal: bool = False) -> None:  # noqa: F811
    """Submit today's check-in of ``number`` through the check-in service (fever when abnormal)."""
    body = checkin_body(temperature_c=38.1 if abnormal else 36.5)
    await app[state.SERVICES].checkins.submit(await person(app, number), body)


async def add_application(app: web.Application, number: str, state_: str, planned: str,  # noqa: F811
                          *, arrived_at_s: int | None = None) -> int:
    """Store a return application of ``number`` in ``state_`` straight through the
    applications repository (the workflow's own tests cover how states are reached)."""
    from datetime import date

    from server.storage.applications import Applications, ItineraryLeg, NewApplication

    p = await person(app, number)
    assert p.department is not None
    now_s = to_unix(app[state.CLOCK].now())
    leg = ItineraryLeg("rail", "G1", "420102", "110108", f"{planned}T08:00+08:00", f"{planned}T12:00+08:00")
    new = NewApplication(p.id, p.department, date.fromisoformat(planned), "420102", (leg,), "返校", "v1",
                         {"no_risk_area": "x"}, None, now_s + 30 * 86400)
    async with app[state.SERVICES].db.transaction() as conn:
        app_id = await Applications.insert(conn, new, state=state_, now_s=now_s)
        if arrived_at_s is not None:
            await Applications.move(conn, app_id, state_, state_, now_s=now_s, arrived_at=arrived_at_s)
    return app_id
