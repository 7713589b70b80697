"""A counsellor never sees another department's people or figures."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.web import state
from tests.dashboards.conftest import Login, add_people, person, sent_sms

ROSTER = [("S1", "CS", "CS-1", "13900000001"), ("E1", "EE", "EE-1", "13900000011"),
          ("E2", "EE", "EE-1", "13900000012")]


async def test_counsellor_sees_only_own_department(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, ROSTER)
    r = await c.get("/api/v1/checkins/missing")
    data = await r.json()
    assert [i["number"] for i in data["items"]] == ["S1"]
    assert data["items"][0]["phone"] == "13900000001"  # counsellors call their students
    r = await c.get("/api/v1/stats/checkins")
    assert {row["department"] for row in (await r.json())["rows"]} == {"CS"}
    r = await c.get("/api/v1/reminders")
    assert (await r.json())["items"] == []
    r = await c.get("/dashboard")
    html = await r.text()
    assert "S1" in html and "E1" not in html and "EE-1" not in html


async def test_other_department_refused(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, ROSTER)
    e1 = await person(app, "E1")
    refused = [
        c.get("/api/v1/checkins/missing?department=EE"),
        c.get("/api/v1/stats/checkins?department=EE"),
        c.get("/api/v1/reminders?department=EE"),
        c.post("/api/v1/reminders", json={"user_ids": [e1.id]}),
        c.post("/api/v1/reminders", json={"user_ids": [e1.id + 1000]}),  # unknown: the same answer
        c.post("/api/v1/reminders", json={"user_ids": [(await person(app, "C1")).id]}),  # not a student
        c.post("/api/v1/reminders", json={"all_missing": True, "department": "EE"}),
        c.get("/api/v1/exports/missing.csv?department=EE"),
        c.get("/api/v1/exports/applications.csv?department=EE"),
        c.get("/api/v1/exports/arrivals.csv?department=EE"),
    ]
    for call in refused:
        r = await call
        assert r.status == 403, r.url
        assert (await r.json())["error"]["code"] == "department_scope"
    await app[state.SERVICES].sms_sender.run_once()
    assert [m for m in sent_sms(app[state.DATADIR]) if m["phone"] == "13900000011"] == []


async def test_campus_figures_are_for_school_admins(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    s = await login("S0", role="student", department="CS")
    for client in (c, s):
        r = await client.get("/api/v1/stats/campus")
        assert r.status == 403
    r = await s.get("/api/v1/checkins/missing")
    assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"
    anon: TestClient = TestClient(c.server)  # type: ignore[type-arg]
    await anon.start_server()
    try:
        r = await anon.get("/api/v1/stats/checkins")
        assert r.status == 401 and (await r.json())["error"]["code"] == "not_logged_in"
    finally:
        await anon.session.close()


async def test_admin_sees_every_department_with_masked_phones(login: Login, app: web.Application) -> None:
    a = await login("A1", role="school_admin", department="ADM")
    await add_people(app, ROSTER)
    r = await a.get("/api/v1/checkins/missing")
    items = (await r.json())["items"]
    assert [i["number"] for i in items] == ["S1", "E1", "E2"]
    assert items[0]["phone"] == "139****0001"
    r = await a.get("/api/v1/checkins/missing?department=EE")
    assert [i["number"] for i in (await r.json())["items"]] == ["E1", "E2"]
