"""Check-in progress with a fake clock across the Asia/Shanghai day boundary, whatever the
server's own time zone."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from shared.clock import FakeClock
from tests.dashboards.conftest import Login, add_people, checkin

ROSTER = [("S1", "CS", "CS-1", "13900000001"), ("S2", "CS", "CS-1", "13900000002"),
          ("S3", "CS", "CS-2", "13900000003")]


async def test_progress_across_midnight(login: Login, app: web.Application, clock: FakeClock, server_tz: str) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, ROSTER)
    await checkin(app, "S1")  # 08:00 on 2026-03-02
    clock.advance(timedelta(hours=15, minutes=59, seconds=59).total_seconds())  # 23:59:59 local
    await checkin(app, "S2", abnormal=True)

    r = await c.get("/api/v1/stats/checkins?from=2026-03-02&to=2026-03-02")
    assert (await r.json())["rows"] == [
        {"day": "2026-03-02", "department": "CS", "expected": 3, "done": 2, "abnormal": 1}]
    r = await c.get("/api/v1/checkins/missing")
    data = await r.json()
    assert data["day"] == "2026-03-02" and [i["number"] for i in data["items"]] == ["S3"] and data["total"] == 1

    clock.advance(2)  # 00:00:01 on 2026-03-03
    r = await c.get("/api/v1/checkins/missing")
    data = await r.json()
    assert data["day"] == "2026-03-03" and [i["number"] for i in data["items"]] == ["S1", "S2", "S3"]
    await checkin(app, "S3")
    r = await c.get("/api/v1/stats/checkins?from=2026-03-01&to=2026-03-04")
    assert (await r.json())["rows"] == [
        {"day": "2026-03-01", "department": "CS", "expected": 3, "done": 0, "abnormal": 0},
        {"day": "2026-03-02", "department": "CS", "expected": 3, "done": 2, "abnormal": 1},
        {"day": "2026-03-03", "department": "CS", "expected": 3, "done": 1, "abnormal": 0},
    ]
    # yesterday's list is still answerable, and today's progress page shows the new day
    r = await c.get("/api/v1/checkins/missing?date=2026-03-02")
    assert [i["number"] for i in (await r.json())["items"]] == ["S3"]
    r = await c.get("/dashboard")
    html = await r.text()
    assert r.status == 200 and "2026-03-03" in html and "CS-2" in html


async def test_bad_dates_are_field_errors(login: Login) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    for url in ("/api/v1/checkins/missing?date=2026-3-2", "/api/v1/checkins/missing?date=2026-03-03",
                "/api/v1/stats/checkins?from=2026-03-05&to=2026-03-01", "/api/v1/stats/checkins?from=2025-01-01",
                "/api/v1/stats/checkins?to=yesterday", "/api/v1/checkins/missing?limit=-1"):
        r = await c.get(url)
        assert r.status == 422, url
        assert (await r.json())["error"]["code"] == "invalid_field"


async def test_closed_days_are_kept_by_the_background_step(login: Login, app: web.Application,
                                                           clock: FakeClock) -> None:
    from server.dashboards.figures import close_past_days
    from server.web import state

    a = await login("A1", role="school_admin", department="ADM")
    await add_people(app, ROSTER)
    await checkin(app, "S1")
    clock.advance(86400)  # 2026-03-03 08:00
    await close_past_days(app[state.SERVICES].db, clock.now())
    row = await app[state.SERVICES].db.fetch_one("SELECT COUNT(*), MIN(day), MAX(day) FROM checkin_stat_days")
    assert row is not None and tuple(row) == (13, "2026-02-18", "2026-03-02")
    # a roster change later does not rewrite a closed day; today follows the roster
    await add_people(app, [("S4", "CS", "CS-2", None)])
    r = await a.get("/api/v1/stats/checkins?from=2026-03-02&to=2026-03-03&department=CS")
    assert [(x["day"], x["expected"], x["done"]) for x in (await r.json())["rows"]] == [
        ("2026-03-02", 3, 1), ("2026-03-03", 4, 0)]
