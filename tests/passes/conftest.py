"""Fixtures for pass tests: the server fixtures (real data dir, FakeClock, loopback app) plus
helpers that play the workflow's part: each calls the pass service inside a transaction of its
own, as the workflow does inside its transactions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.arrivals import Arrivals
from server.storage.people import People, Person
from server.web import state
from server.workflow.checkins import NORMAL_ANSWERS
from shared.campus_time import checkin_day
from tests.server import conftest as server_fixtures
from tests.server.conftest import activate, add_person

# the server tests' fixtures, shared: real data directory, FakeClock, app on a loopback server
clock = server_fixtures.clock
datadir = server_fixtures.datadir
app = server_fixtures.app
client = server_fixtures.client

PASSWORD = "correct-horse-9"


async def person(app: web.Application, number: str) -> Person:
    """The stored person ``number``."""
    p = await People(app[state.SERVICES].db).by_number(number)
    assert p is not None, number
    return p


async def publish(app: web.Application, kind: str, number: str, *, actor: str | None = None,
                  at: datetime | None = None, **detail: Any) -> None:
    """Apply to ``number``'s pass status what the workflow applies for ``kind``
    (``application_approved``, ``application_withdrawn|expired|revoked`` with ``reason``,
    ``checkin_submitted`` with ``day`` and ``abnormal``), in one transaction."""
    p = await person(app, number)
    actor_id = (await person(app, actor)).id if actor else None
    now = at or app[state.CLOCK].now()
    service = app[state.SERVICES].passes
    async with app[state.SERVICES].db.transaction() as conn:
        if kind == "application_approved":
            await service.approved(conn, p.id, actor_id, now)
        elif kind in ("application_withdrawn", "application_expired", "application_revoked"):
            await service.application_ended(conn, p.id, kind, str(detail.get("reason", "")), actor_id, now)
        elif kind == "checkin_submitted":
            await service.checked_in(conn, p.id, str(detail["day"]), bool(detail["abnormal"]), now)
        else:
            raise AssertionError(f"no workflow change {kind}")


async def arrive(app: web.Application, number: str, counsellor: str) -> None:
    """The pass status part of an arrival confirmed by ``counsellor`` (no application needed)."""
    p, c = await person(app, number), await person(app, counsellor)
    async with app[state.SERVICES].db.transaction() as conn:
        await app[state.SERVICES].passes.arrived(conn, p.id, c.id, app[state.CLOCK].now(), method="number")


async def checkin(app: web.Application, number: str, abnormal: bool = False) -> None:
    """The pass status part of today's check-in of ``number`` (Asia/Shanghai day of the app clock)."""
    day = checkin_day(app[state.CLOCK].now()).isoformat()
    await publish(app, "checkin_submitted", number, actor=number, day=day, abnormal=abnormal)


async def login(client: TestClient, number: str, password: str = PASSWORD) -> None:
    """Switch the client's session to ``number``."""
    r = await client.post("/api/v1/auth/login", json={"username": number, "password": password})
    assert r.status == 200, await r.text()


async def people(client: TestClient) -> None:
    """Students s1 (CS) and o1 (EE), counsellors c1 (CS) and c2 (EE), a school admin a1; all
    activated."""
    app = client.server.app
    assert app is not None
    await add_person(app, "s1", name="Zhang San", department="CS")
    await add_person(app, "o1", name="Li Si", department="EE")
    await add_person(app, "c1", role="counsellor", name="Wang Counsellor", department="CS", departments=("CS",))
    await add_person(app, "c2", role="counsellor", name="Sun Counsellor", department="EE", departments=("EE",))
    await add_person(app, "a1", role="school_admin", name="Zhao Admin", department=None)
    for i, number in enumerate(("s1", "o1", "c1", "c2", "a1")):
        await activate(client, number, phone=f"1380013800{i}")


NORMAL_CHECKIN = {**NORMAL_ANSWERS, "location_kind": "other_province", "region_code": "420102", "remarks": ""}


async def as_person(client: TestClient, number: str) -> TestClient:
    """Another client on the same test server, logged in as ``number`` (close it after use)."""
    other = TestClient(client.server)
    await other.start_server()  # the server already runs: this only opens the client's session
    await login(other, number)
    return other


async def real_checkin(client: TestClient, number: str, **answers: Any) -> None:
    """Today's check-in of ``number`` through the check-in API (the workflow applies the pass status)."""
    c = await as_person(client, number)
    try:
        r = await c.post("/api/v1/checkins/today", json={**NORMAL_CHECKIN, **answers})
        assert r.status == 200, await r.text()
    finally:
        await c.session.close()


async def approve(client: TestClient, number: str) -> int:
    """The real workflow: today's check-in, a return application for today, department and
    school approval (the workflow applies the pass status). Returns its id."""
    app = client.server.app
    assert app is not None
    await real_checkin(client, number)
    today = checkin_day(app[state.CLOCK].now()).isoformat()
    body = {
        "planned_return_date": today, "departure_region_code": "420102",
        "itinerary": [{"mode": "rail", "service_no": "G1234", "from_region_code": "420102",
                       "to_region_code": "110108", "depart_at": f"{today}T08:00", "arrive_at": f"{today}T12:30"}],
        "reason": "开学返校",
        "confirmations": {"no_risk_area": True, "no_case_contact": True, "no_symptoms": True, "not_quarantined": True},
    }
    p = await person(app, number)
    counsellor = {"CS": "c1", "EE": "c2"}[p.department or ""]
    for who, path in ((number, "/api/v1/return-applications"), (counsellor, None), ("a1", None)):
        c = await as_person(client, who)
        try:
            if path is not None:
                r = await c.post(path, json=body)
                assert r.status == 201, await r.text()
                app_id = int((await r.json())["id"])
            else:
                r = await c.post(f"/api/v1/return-applications/{app_id}/approve", json={})
                assert r.status == 200, await r.text()
        finally:
            await c.session.close()
    return app_id


async def green(client: TestClient, number: str = "s1") -> str:
    """The real workflow up to a green pass (check-in, application, both approvals, arrival) for
    ``number``; returns the green pass text."""
    app = client.server.app
    assert app is not None
    await approve(client, number)
    p, c1 = await person(app, number), await person(app, "c1")
    row = await Arrivals(app[state.SERVICES].passes).confirm_arrival(p.id, c1, app[state.CLOCK].now(), method="number")
    assert row.status == "green" and row.current_text
    return row.current_text
