"""Who clears a hold (docs/passes.md, "Who clears a hold"; docs/security.md, separation of duties):
a person cannot undo their own abnormal check-in by editing it, both answers stay on record, and a
hold is cleared only by a role at least as high as the one that placed it; each change is one
transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import load_server_config
from server.datadir import DataDir
from server.errors import Forbidden
from server.pass_status import HoldClearRefused, PassService, PassStatusError
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.storage.audit import AuditLog
from server.web import state
from server.workflow.checkins import YES_NO_QUESTIONS, CheckinService
from shared.clock import FakeClock
from tests.passes.conftest import NORMAL_CHECKIN, approve, as_person, green, login, people, person
from tests.server.conftest import CSRF_FIELD as _CSRF
from tests.server.conftest import csrf

FEVER = {"temperature_c": 38.6, "symptoms": ["fever"]}




async def count(app: web.Application, sql: str, *params: object) -> int:
    row = await app[state.SERVICES].db.fetch_one(sql, params)
    assert row is not None
    return int(row[0])




# -- item 4: an abnormal check-in cannot be undone by the person -----------------------------------

async def test_fever_then_same_day_edit_to_normal_keeps_the_hold_and_both_answers(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await green(client)
    s1 = await person(app, "s1")
    student = await as_person(client, "s1")
    try:
        r = await student.post("/api/v1/checkins/today", json={**NORMAL_CHECKIN, **FEVER})
        body = await r.json()
        assert r.status == 200 and (body["pass_status"], body["hold_kind"]) == ("hold", "abnormal_checkin")
        passes_before = await count(app, "SELECT COUNT(*) FROM passes WHERE person_id = ?", s1.id)

        # a minute later, the same day: the answers edited back to normal
        app[state.CLOCK].advance(60)
        r = await student.post("/api/v1/checkins/today", json=NORMAL_CHECKIN)
        body = await r.json()
        assert r.status == 200, body
        assert body["checkin"]["abnormal"] is False and body["checkin"]["abnormal_on_record"] is True
        assert (body["pass_status"], body["hold_kind"]) == ("hold", "abnormal_checkin")

        # no fresh pass: still on hold, nothing signed, the next step says who clears it
        r = await student.get("/api/v1/pass")
        mine = await r.json()
        assert (mine["status"], mine["pass_text"], mine["reason_code"]) == ("hold", None, "abnormal_checkin")
        assert mine["next_step_code"] == "next_abnormal_checkin" and "counsellor" in mine["next_step"]
        assert await count(app, "SELECT COUNT(*) FROM passes WHERE person_id = ?", s1.id) == passes_before

        # every answer is in the history: the latest, the fever it replaced, and the morning's
        # normal check-in before the fever (made on the way to the green pass)
        r = await student.get("/api/v1/checkins")
        history = await r.json()
        today = history["checkins"][0]
        assert (today["temperature_c"], today["abnormal"], today["abnormal_on_record"], today["revisions"]) == (
            36.5, False, True, 3)
        assert [(x["day"], x["revision"], x["temperature_c"], x["symptoms"], x["abnormal"])
                for x in history["replaced"]] == [(today["day"], 2, 38.6, ["fever"], True),
                                                  (today["day"], 1, 36.5, ["none"], False)]
    finally:
        await student.session.close()

    # the counsellor still sees the abnormal check-in today (marked as edited back to normal)
    await login(client, "c1")
    r = await client.get("/api/v1/review/checkins/abnormal")
    items = (await r.json())["items"]
    assert [(i["number"], i["checkin"]["abnormal"], i["checkin"]["abnormal_on_record"]) for i in items] == [
        ("s1", False, True)]
    review = await (await client.get("/review")).text()
    assert "本人已将当天打卡改为正常" in review

    # the counsellor clears it: green again, with a fresh pass
    r = await client.post("/api/v1/people/s1/pass/clear", json={"reason": "thermometer fault, checked by the clinic"})
    body = await r.json()
    assert r.status == 200 and body["status"] == "green" and body["current_serial"]
    assert body["history"][0]["actor_role"] == "counsellor" and body["history"][0]["cause"] == "hold_cleared"


async def test_the_pages_say_the_hold_stays_and_who_clears_it(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await green(client)
    await login(client, "s1")
    token = await csrf(client, "/checkin")
    form = {"csrf_token": token, "location_kind": "other_province", "region_code": "420102", "temperature_c": "38.4",
            "symptoms": "fever", "case_status": "none", "remarks": "", "attest": "yes",
            **{question: "no" for question in YES_NO_QUESTIONS}}
    r = await client.post("/checkin", data=form, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/?msg=checkin_saved_abnormal"
    r = await client.post("/checkin", data={**form, "temperature_c": "36.4", "symptoms": "none"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/?msg=checkin_saved_hold_stays"
    home = await (await client.get(r.headers["Location"])).text()
    assert "修改打卡不能解除暂停，须由辅导员（或学校管理员）核实后解除" in home
    page = await (await client.get("/checkin")).text()
    assert 'id="hold-stays"' in page and "须由辅导员" in page
    assert "修改前的回答" in page and "38.4 °C" in page and "36.4 °C" in page
    page = await (await client.get("/pass")).text()
    assert "修改当天的打卡不能解除暂停" in page and "须由辅导员（或学校管理员）核实后解除" in page


@pytest.fixture
async def later_client(aiohttp_client: Callable[..., Awaitable[TestClient]], datadir: DataDir,
                       clock: FakeClock) -> TestClient:
    """A school that lets a later day's normal check-in lift an abnormal check-in hold."""
    config = load_server_config(datadir.config_path)
    config = replace(config, passes=replace(config.passes, abnormal_hold_cleared_by="counsellor_or_later_checkin"))
    app = create_app(datadir, clock=clock, config=config, hasher=PasswordHasher(FAST_TEST_PARAMS),
                     run_sms_sender=False, run_jobs=False)
    return await aiohttp_client(app)


async def test_a_later_days_normal_checkin_clears_only_where_configured(later_client: TestClient) -> None:
    client = later_client
    app = client.server.app
    assert app is not None
    await people(client)
    await green(client)
    s1 = await person(app, "s1")
    svc = app[state.SERVICES].passes
    student = await as_person(client, "s1")
    try:
        await student.post("/api/v1/checkins/today", json={**NORMAL_CHECKIN, **FEVER})
        app[state.CLOCK].advance(600)
        r = await student.post("/api/v1/checkins/today", json=NORMAL_CHECKIN)
        assert (await r.json())["pass_status"] == "hold"  # the same day: never
        mine = await (await student.get("/api/v1/pass")).json()
        assert mine["next_step_code"] == "next_abnormal_checkin_later"
        app[state.CLOCK].advance(86400)  # the next day, still abnormal: stays
        await student.post("/api/v1/checkins/today", json={**NORMAL_CHECKIN, **FEVER})
        assert (await svc.store.get(s1.id)).status == "hold"
        app[state.CLOCK].advance(86400)  # a day later, normal: lifted, with a fresh pass
        r = await student.post("/api/v1/checkins/today", json=NORMAL_CHECKIN)
        assert (await r.json())["pass_status"] == "green"
        mine = await (await student.get("/api/v1/pass")).json()
        assert mine["status"] == "green" and mine["pass_text"]
    finally:
        await student.session.close()


async def test_by_default_a_later_days_normal_checkin_does_not_clear(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await green(client)
    student = await as_person(client, "s1")
    try:
        await student.post("/api/v1/checkins/today", json={**NORMAL_CHECKIN, **FEVER})
        app[state.CLOCK].advance(86400)
        r = await student.post("/api/v1/checkins/today", json=NORMAL_CHECKIN)
        assert (await r.json())["pass_status"] == "hold"
    finally:
        await student.session.close()


async def test_approval_after_an_edited_fever_holds_at_once(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    student = await as_person(client, "s1")
    try:
        await student.post("/api/v1/checkins/today", json={**NORMAL_CHECKIN, **FEVER})
    finally:
        await student.session.close()
    await approve(client, "s1")  # checks in normal again today, then both approvals
    row = await app[state.SERVICES].passes.store.get((await person(app, "s1")).id)
    assert (row.status, row.base, row.hold_kind, row.hold_by_role) == ("hold", "black", "abnormal_checkin", "system")


# -- item 3: a hold is cleared only by a role at least as high as the one that placed it -----------

async def test_a_counsellor_cannot_clear_a_school_admins_hold(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await green(client)
    s1 = await person(app, "s1")
    svc = app[state.SERVICES].passes
    await login(client, "a1")
    r = await client.post("/api/v1/people/s1/pass/hold", json={"reason": "close contact (city notice)"})
    body = await r.json()
    assert r.status == 200 and (body["status"], body["hold_kind"], body["hold_by_role"]) == (
        "hold", "admin", "school_admin")

    # the counsellor: refused through the API, and nothing changes
    await login(client, "c1")
    history = await count(app, "SELECT COUNT(*) FROM pass_status_history WHERE person_id = ?", s1.id)
    r = await client.post("/api/v1/people/s1/pass/clear", json={"reason": "looks fine to me"})
    body = await r.json()
    assert r.status == 403 and body["error"]["code"] == "hold_needs_higher_role", body
    assert body["error"]["placed_by"] == "school_admin"
    row = await svc.store.get(s1.id)
    assert (row.status, row.hold_by_role) == ("hold", "school_admin")
    assert await count(app, "SELECT COUNT(*) FROM pass_status_history WHERE person_id = ?", s1.id) == history
    assert "pass_hold_cleared" not in [e.action for e in await AuditLog(app[state.SERVICES].db).recent(target_person_id=s1.id)]

    # ... and through the page: no clear button, and a clear zh-CN answer to a stale form
    page = await (await client.get("/passes?number=s1")).text()
    assert 'action="/passes/s1/clear"' not in page and "只有学校管理员可以解除此暂停" in page
    token = _CSRF.search(page)
    assert token
    r = await client.post("/passes/s1/clear", data={"csrf_token": token.group(1), "reason": "looks fine"})
    assert r.status == 403
    assert "此暂停由学校管理员设置，辅导员无权解除" in await r.text()

    # a counsellor's hold on top does not make it theirs to clear
    r = await client.post("/api/v1/people/s1/pass/hold", json={"reason": "also my concern"})
    assert r.status == 200 and (await r.json())["hold_by_role"] == "school_admin"
    r = await client.post("/api/v1/people/s1/pass/clear", json={"reason": "x"})
    assert r.status == 403

    # the school admin can
    await login(client, "a1")
    r = await client.post("/api/v1/people/s1/pass/clear", json={"reason": "negative test result"})
    body = await r.json()
    assert r.status == 200 and body["status"] == "green" and body["hold_by_role"] is None
    latest = body["history"][0]
    assert (latest["cause"], latest["actor_role"], latest["actor_id"]) == (
        "hold_cleared", "school_admin", (await person(app, "a1")).id)


async def test_holds_of_counsellors_and_of_the_system(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await green(client)
    await green(client, "o1")
    # a counsellor's hold: the counsellor (or a school admin) clears it
    await login(client, "c1")
    r = await client.post("/api/v1/people/s1/pass/hold", json={"reason": "please see me"})
    assert (await r.json())["hold_by_role"] == "counsellor"
    page = await (await client.get("/passes?number=s1")).text()
    assert 'action="/passes/s1/clear"' in page
    await login(client, "a1")
    r = await client.post("/api/v1/people/s1/pass/clear", json={"reason": "seen"})
    assert r.status == 200 and (await r.json())["status"] == "green"
    # a school admin's revocation holds as the school admin: the counsellor cannot clear it
    r = await client.post("/api/v1/people/o1/pass/revoke", json={"reason": "lost phone"})
    assert (await r.json())["hold_by_role"] == "school_admin"
    await login(client, "c2")
    r = await client.post("/api/v1/people/o1/pass/clear", json={"reason": "found it"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "hold_needs_higher_role"
    # the student's view says only the school clears it
    await login(client, "o1")
    mine = await (await client.get("/api/v1/pass")).json()
    assert mine["next_step_code"] == "next_admin_hold_school"
    assert "只有学校管理员可以解除" in await (await client.get("/pass")).text()
    # an abnormal check-in's hold (placed by the system): a counsellor clears it
    student = await as_person(client, "s1")
    try:
        await student.post("/api/v1/checkins/today", json={**NORMAL_CHECKIN, **FEVER})
    finally:
        await student.session.close()
    await login(client, "c1")
    body = await (await client.get("/api/v1/people/s1/pass")).json()
    assert (body["hold_kind"], body["hold_by_role"]) == ("abnormal_checkin", "system")
    r = await client.post("/api/v1/people/s1/pass/clear", json={"reason": "called, fine"})
    assert r.status == 200


async def test_the_domain_refuses_whatever_the_caller(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await green(client)
    s1, a1, c1 = await person(app, "s1"), await person(app, "a1"), await person(app, "c1")
    svc = app[state.SERVICES].passes
    await svc.hold(s1.id, "school hold", a1.id, clock.now(), actor_role="school_admin")
    with pytest.raises(HoldClearRefused) as refused:
        await svc.clear_hold(s1.id, "x", c1.id, clock.now(), actor_role="counsellor")
    assert refused.value.code == "hold_needs_higher_role" and "school admin" in refused.value.message
    with pytest.raises(Forbidden) as forbidden:
        await svc.clear_hold(s1.id, "x", c1.id, clock.now(), actor_role="system_admin")
    assert forbidden.value.code == "forbidden"
    assert (await svc.store.get(s1.id)).status == "hold"


# -- one transaction ---------------------------------------------------------------------------------

async def test_a_clear_and_a_checkin_edit_are_each_one_transaction(client: TestClient, datadir: DataDir,
                                                                  clock: FakeClock) -> None:
    """A pass service whose scope names no building group (a configuration ``check-config``
    refuses, injected past it) fails when it signs the fresh pass, the last step of a clear and of
    a normal check-in: nothing of either is kept."""
    app = client.server.app
    assert app is not None
    await people(client)
    await green(client)
    s1, c1 = await person(app, "s1"), await person(app, "c1")
    config = load_server_config(datadir.config_path)
    broken = PassService(app[state.SERVICES].db, datadir, replace(config.passes, campus_groups=[]), clock)
    db = app[state.SERVICES].db

    async def snapshot() -> tuple[object, ...]:
        row = await broken.store.get(s1.id)
        return (row, await count(app, "SELECT COUNT(*) FROM pass_status_history WHERE person_id = ?", s1.id),
                await count(app, "SELECT COUNT(*) FROM audit_log WHERE target_person_id = ?", s1.id),
                await count(app, "SELECT COUNT(*) FROM checkin_revisions WHERE person_id = ?", s1.id),
                await count(app, "SELECT COUNT(*) FROM passes WHERE person_id = ?", s1.id),
                tuple(await db.fetch_one("SELECT temperature_c, revisions, abnormal_on_record FROM checkins"
                                         " WHERE person_id = ?", (s1.id,)) or ()))

    # a normal edit of a green person's check-in signs a fresh pass: it fails, nothing is kept
    clock.advance(60)
    before = await snapshot()
    checkins = CheckinService(db, clock, load_server_config(datadir.config_path), broken)
    with pytest.raises(PassStatusError) as failed:
        await checkins.submit(s1, {**NORMAL_CHECKIN, "temperature_c": 36.7})
    assert failed.value.code == "no_scope"
    assert await snapshot() == before

    # a counsellor's clear of their hold signs a fresh pass: it fails, nothing is kept
    await app[state.SERVICES].passes.hold(s1.id, "see me", c1.id, clock.now(), actor_role="counsellor")
    before = await snapshot()
    with pytest.raises(PassStatusError) as failed:
        await broken.clear_hold(s1.id, "fine", c1.id, clock.now(), actor_role="counsellor")
    assert failed.value.code == "no_scope"
    assert await snapshot() == before
    assert (await broken.store.get(s1.id)).status == "hold"
