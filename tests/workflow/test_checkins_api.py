"""Check-in API over loopback HTTP: same-day idempotence, "no change since yesterday", day
boundaries in Asia/Shanghai whatever the server's zone, abnormal answers and counsellors."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from aiohttp import web

from server.storage.audit import AuditLog
from server.storage.checkins import Checkins
from server.storage.people import People
from server.web import state
from shared.clock import FakeClock
from tests.server.conftest import sent_sms
from tests.workflow.conftest import Login, checkin_body


async def count_rows(app: web.Application) -> int:
    row = await app[state.SERVICES].db.fetch_one("SELECT COUNT(*) FROM checkins")
    assert row is not None
    return int(row[0])


async def test_today_is_null_then_filled(login: Login) -> None:
    s = await login("S1")
    r = await s.get("/api/v1/checkins/today")
    assert r.status == 200 and await r.json() == {"day": "2026-03-02", "checkin": None}
    r = await s.post("/api/v1/checkins/today", json=checkin_body())
    data = await r.json()
    assert r.status == 200 and data["created"] is True
    assert data["checkin"]["day"] == "2026-03-02" and data["checkin"]["abnormal"] is False
    r = await s.get("/api/v1/checkins/today")
    assert (await r.json())["checkin"]["region_code"] == "420102"


async def test_same_day_resubmission_updates_one_row(login: Login, app: web.Application, clock: FakeClock) -> None:
    s = await login("S1")
    first = await (await s.post("/api/v1/checkins/today", json=checkin_body())).json()
    clock.advance(3600)
    second = await (await s.post("/api/v1/checkins/today", json=checkin_body(temperature_c=36.8))).json()
    assert second["created"] is False and second["checkin"]["id"] == first["checkin"]["id"]
    assert second["checkin"]["revisions"] == 2 and second["checkin"]["temperature_c"] == 36.8
    # a double tap: two identical requests at once
    results = await asyncio.gather(*(s.post("/api/v1/checkins/today", json=checkin_body()) for _ in range(2)))
    assert [r.status for r in results] == [200, 200]
    assert await count_rows(app) == 1


async def test_field_errors_over_http(login: Login, app: web.Application) -> None:
    s = await login("S1")
    r = await s.post("/api/v1/checkins/today", json=checkin_body(temperature_c=45, symptoms=["none", "cough"],
                                                                 region_code="991234"))
    body = await r.json()
    assert r.status == 422 and body["error"]["code"] == "invalid_field"
    assert {(f["field"], f["code"]) for f in body["error"]["fields"]} == {
        ("temperature_c", "temperature_out_of_range"), ("symptoms", "none_exclusive"),
        ("region_code", "region_unknown_province")}
    r = await s.post("/api/v1/checkins/today", json=checkin_body(temperature_c="hot"))
    assert r.status == 422 and "temperature_c" in (await r.json())["error"]["message"]
    r = await s.post("/api/v1/checkins/today", json=checkin_body(mood="fine"))
    assert r.status == 422 and "mood" in (await r.json())["error"]["message"]
    assert await count_rows(app) == 0


async def test_same_as_yesterday(login: Login, app: web.Application, clock: FakeClock) -> None:
    s = await login("S1")
    r = await s.post("/api/v1/checkins/today", json={"same_as_yesterday": True})
    assert r.status == 409 and (await r.json())["error"]["code"] == "no_checkin_yesterday"
    await s.post("/api/v1/checkins/today", json=checkin_body(location_kind="same_city", region_code="110108",
                                                             remarks="在家"))
    clock.advance(86400)
    r = await s.post("/api/v1/checkins/today", json={"same_as_yesterday": True})
    data = (await r.json())["checkin"]
    assert r.status == 200 and data["day"] == "2026-03-03" and data["same_as_yesterday"] is True
    assert (data["location_kind"], data["region_code"], data["remarks"]) == ("same_city", "110108", "在家")
    r = await s.post("/api/v1/checkins/today", json={"same_as_yesterday": True, "temperature_c": 36.6})
    assert r.status == 422 and (await r.json())["error"]["fields"][0]["code"] == "exclusive"
    r = await s.get("/api/v1/checkins?from=2026-03-01&to=2026-03-03")
    assert [(c["day"], c["same_as_yesterday"]) for c in (await r.json())["checkins"]] == [
        ("2026-03-03", True), ("2026-03-02", False)]


async def test_day_boundary_in_shanghai_whatever_the_server_zone(
        server_tz: str, login: Login, app: web.Application, clock: FakeClock) -> None:
    s = await login("S1")
    clock.set_wall(datetime(2026, 3, 2, 15, 59, 59, tzinfo=UTC))  # 23:59:59 Asia/Shanghai
    r1 = await (await s.post("/api/v1/checkins/today", json=checkin_body())).json()
    clock.set_wall(datetime(2026, 3, 2, 16, 0, 0, tzinfo=UTC))  # 00:00:00 the next day
    r2 = await (await s.post("/api/v1/checkins/today", json=checkin_body())).json()
    assert (r1["checkin"]["day"], r2["checkin"]["day"]) == ("2026-03-02", "2026-03-03")
    assert r1["created"] and r2["created"] and await count_rows(app) == 2


async def test_abnormal_alerts_counsellors_once_a_day(login: Login, app: web.Application) -> None:
    counsellor = await login("C1", role="counsellor", department="CS", departments=("CS",))
    other = await login("C2", role="counsellor", department="EE", departments=("EE",))
    s = await login("S1", name="张三")
    for temp in (38.2, 38.5):
        r = await s.post("/api/v1/checkins/today", json=checkin_body(temperature_c=temp))
        assert (await r.json())["checkin"]["abnormal"] is True
    await app[state.SERVICES].sms_sender.run_once()
    alerts = [m for m in sent_sms(app[state.DATADIR]) if "张三" in m["body"]]
    assert len(alerts) == 1 and alerts[0]["phone"] == "13800000001"  # the counsellor's phone
    s1 = await People(app[state.SERVICES].db).by_number("S1")
    assert s1 is not None
    stored = await Checkins(app[state.SERVICES].db).for_day(s1.id, date(2026, 3, 2))
    assert stored is not None and stored.abnormal and not stored.same_as_yesterday
    r = await counsellor.get("/api/v1/review/checkins/abnormal")
    items = (await r.json())["items"]
    assert [(i["number"], i["checkin"]["temperature_c"]) for i in items] == [("S1", 38.5)]
    r = await other.get("/api/v1/review/checkins/abnormal")
    assert (await r.json())["items"] == []
    audit = await AuditLog(app[state.SERVICES].db).recent(action="health_view")
    assert any(entry.detail.get("people") == ["S1"] and entry.actor_number == "C1" for entry in audit)
    r = await s.get("/api/v1/review/checkins/abnormal")
    assert r.status == 403


async def test_history_range_checks(login: Login) -> None:
    s = await login("S1")
    r = await s.get("/api/v1/checkins?from=2026-03-05&to=2026-03-01")
    assert r.status == 422
    r = await s.get("/api/v1/checkins?from=yesterday")
    assert r.status == 422 and (await r.json())["error"]["code"] == "invalid_field"


async def test_reviewers_do_not_check_in(login: Login) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    r = await c.post("/api/v1/checkins/today", json=checkin_body())
    assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"


async def test_missing_list_and_reminders_once_a_day(login: Login, app: web.Application) -> None:
    counsellor = await login("C1", role="counsellor", department="CS", departments=("CS",))
    done = await login("S1")
    await login("S2", name="钱七")
    await login("S3", department="EE")
    await done.post("/api/v1/checkins/today", json=checkin_body())
    r = await counsellor.get("/api/v1/checkins/missing")
    assert [i["number"] for i in (await r.json())["items"]] == ["S2"]
    for expected in (1, 0):
        r = await counsellor.post("/api/v1/reminders", json={"all_missing": True})
        assert len((await r.json())["reminded"]) == expected
    await app[state.SERVICES].sms_sender.run_once()
    reminders = [m for m in sent_sms(app[state.DATADIR]) if "尚未完成健康打卡" in m["body"]]
    assert len(reminders) == 1 and "钱七" in reminders[0]["body"]


async def test_retention_deletes_old_checkins(login: Login, app: web.Application, clock: FakeClock) -> None:

    s = await login("S1")
    await s.post("/api/v1/checkins/today", json=checkin_body())
    await s.post("/api/v1/return-applications", json={
        "planned_return_date": "2026-03-05", "departure_region_code": "420102", "reason": "返校",
        "itinerary": [{"mode": "car", "from_region_code": "420102", "to_region_code": "110108",
                       "depart_at": "2026-03-05T08:00", "arrive_at": "2026-03-05T18:00"}],
        "confirmations": {"no_risk_area": True, "no_case_contact": True, "no_symptoms": True,
                          "not_quarantined": True}})
    service = app[state.SERVICES].checkins
    assert await service.purge_old(clock.now()) == 0
    clock.advance(181 * 86400)
    assert await service.purge_old(clock.now()) == 1
    assert await count_rows(app) == 0
    row = await app[state.SERVICES].db.fetch_one("SELECT checkin_id FROM return_applications")
    assert row is not None and row[0] is None
