"""Reminders: one tap, "remind all not yet", throttled to one SMS per person per check-in day,
and the automatic reminder at 14:00 Asia/Shanghai with a fake clock."""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp import web

from server.web import state
from shared.campus_time import checkin_day
from shared.clock import FakeClock
from tests.dashboards.conftest import Login, add_people, checkin, person, sent_sms

ROSTER = [("S1", "CS", "CS-1", "13900000001"), ("S2", "CS", "CS-1", "13900000002"),
          ("S3", "CS", "CS-2", "13900000003"), ("E1", "EE", "EE-1", "13900000011")]


async def reminders_to(app: web.Application) -> dict[str, int]:
    """``{phone: reminder SMS delivered}`` after running the outbox sender."""
    await app[state.SERVICES].sms_sender.run_once()
    counts: dict[str, int] = {}
    for m in sent_sms(app[state.DATADIR]):
        if "健康打卡" in m["body"] and m["phone"].startswith("139"):
            counts[m["phone"]] = counts.get(m["phone"], 0) + 1
    return counts


async def test_two_taps_send_one_sms(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, ROSTER)
    s1 = await person(app, "S1")
    for _ in range(2):
        r = await c.post("/api/v1/reminders", json={"user_ids": [s1.id]})
        assert r.status == 200, await r.text()
    data = await r.json()
    assert data["reminded"] == [] and data["already_reminded"] == [s1.id]
    assert await reminders_to(app) == {"13900000001": 1}
    r = await c.get("/api/v1/reminders")
    items = (await r.json())["items"]
    assert [(i["number"], i["kind"], i["by"]) for i in items] == [("S1", "manual", "Person C1")]


async def test_remind_all_missing_skips_checked_in_and_reminded(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, ROSTER)
    await checkin(app, "S2")
    s1, s2, s3 = [await person(app, n) for n in ("S1", "S2", "S3")]
    r = await c.post("/api/v1/reminders", json={"user_ids": [s1.id, s2.id]})
    assert (await r.json())["checked_in"] == [s2.id]
    r = await c.post("/api/v1/reminders", json={"all_missing": True})
    data = await r.json()
    assert data["reminded"] == [s3.id] and data["already_reminded"] == [s1.id]
    assert await reminders_to(app) == {"13900000001": 1, "13900000003": 1}
    r = await c.get("/api/v1/checkins/missing")
    missing = {i["number"]: i["reminded_kind"] for i in (await r.json())["items"]}
    assert missing == {"S1": "manual", "S3": "manual"}


async def test_automatic_reminder_at_14_once_per_non_reporter(login: Login, app: web.Application,
                                                             clock: FakeClock) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, ROSTER)
    await add_people(app, [("S9", "CS", "CS-2", None)])  # no phone: cannot be texted
    await checkin(app, "S1")
    service = app[state.SERVICES].reminders
    clock.advance(timedelta(hours=5, minutes=59).total_seconds())  # 13:59 Asia/Shanghai
    assert await service.run_auto() is None
    clock.advance(60)  # 14:00
    outcome = await service.run_auto()
    assert outcome is not None
    ids = {await person(app, n): n for n in ("S2", "S3", "E1", "S9")}
    assert sorted(outcome.reminded) == sorted(p.id for p, n in ids.items() if n != "S9")
    assert outcome.no_phone == [(await person(app, "S9")).id]
    assert await service.run_auto() is None  # once per day
    clock.advance(3600)
    assert await service.run_auto() is None
    assert await reminders_to(app) == {"13900000002": 1, "13900000003": 1, "13900000011": 1}
    # a tap after the automatic reminder sends nothing more
    r = await c.post("/api/v1/reminders", json={"all_missing": True})
    assert (await r.json())["reminded"] == []
    assert await reminders_to(app) == {"13900000002": 1, "13900000003": 1, "13900000011": 1}
    # the counsellor sees who was reminded (own department only) and when the job ran
    r = await c.get("/api/v1/reminders")
    data = await r.json()
    assert data["auto_ran_at"] == "2026-03-02T06:00:00+00:00"
    assert sorted((i["number"], i["kind"]) for i in data["items"]) == [("S2", "auto"), ("S3", "auto")]
    # the next day the job runs again for that day
    clock.advance(timedelta(days=1).total_seconds())
    again = await service.run_auto()
    assert again is not None and len(again.reminded) == 4
    assert await reminders_to(app) == {"13900000001": 1, "13900000002": 2, "13900000003": 2, "13900000011": 2}


async def test_malformed_reminder_bodies(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    bodies: list[dict[str, object]] = [{}, {"user_ids": [1], "all_missing": True}, {"user_ids": []},
                                       {"user_ids": "x"}, {"user_ids": [1], "department": "CS"}, {"bogus": 1}]
    for body in bodies:
        r = await c.post("/api/v1/reminders", json=body)
        assert r.status == 422, (body, await r.text())
        assert (await r.json())["error"]["code"] == "invalid_field"
    r = await c.post("/api/v1/reminders", data=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["error"]["code"] == "malformed_json"


async def test_the_app_runs_the_automatic_reminder(aiohttp_client, datadir) -> None:  # type: ignore[no-untyped-def]
    """The reminder job runs on the app's job runner every check_interval_s seconds of the app's
    clock: advancing the fake clock runs it."""
    import asyncio
    import dataclasses
    from datetime import UTC, datetime

    from server.app import create_app
    from server.config import ReminderConfig, load_server_config
    from server.passwords import FAST_TEST_PARAMS, PasswordHasher

    config = dataclasses.replace(load_server_config(datadir.config_path),
                                 reminders=ReminderConfig(check_interval_s=1))
    clock = FakeClock(datetime(2026, 3, 2, 6, 30, tzinfo=UTC))  # 14:30 Asia/Shanghai
    app = create_app(datadir, clock=clock, config=config, hasher=PasswordHasher(FAST_TEST_PARAMS),
                     run_sms_sender=False)
    await aiohttp_client(app)
    await add_people(app, ROSTER)
    run = await app[state.SERVICES].reminders.store.auto_run_of(checkin_day(clock.now()))
    assert run is None  # no look before the first interval has passed on the app's clock
    for _ in range(100):  # the first look comes one interval (1 s of the fake clock) after start
        clock.advance(1)
        await asyncio.sleep(0.05)
        run = await app[state.SERVICES].reminders.store.auto_run_of(checkin_day(clock.now()))
        if run is not None and run[1] == 4:
            break
    assert run is not None and run[1] == 4
    assert await reminders_to(app) == {"13900000001": 1, "13900000002": 1, "13900000003": 1, "13900000011": 1}


async def test_reminders_from_the_review_page_count_too(login: Login, app: web.Application) -> None:
    """The reviewers' "remind all" button uses the same service: still one SMS per person and
    day, and the dashboard lists the person as reminded."""
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, ROSTER)
    page = await (await c.get("/review")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    r = await c.post("/review/remind", data={"csrf_token": token.group(1)}, allow_redirects=False)
    assert r.status == 303, await r.text()
    s1 = await person(app, "S1")
    r = await c.post("/api/v1/reminders", json={"user_ids": [s1.id]})
    assert (await r.json())["already_reminded"] == [s1.id]
    r = await c.post("/api/v1/reminders", json={"all_missing": True})
    assert (await r.json())["reminded"] == []
    assert await reminders_to(app) == {"13900000001": 1, "13900000002": 1, "13900000003": 1}
    r = await c.get("/api/v1/reminders")
    assert sorted(i["number"] for i in (await r.json())["items"]) == ["S1", "S2", "S3"]
    r = await c.get("/api/v1/checkins/missing")
    assert {i["reminded_kind"] for i in (await r.json())["items"]} == {"manual"}
