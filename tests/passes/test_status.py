"""Pass status transitions and the passes they produce (decoded and checked field by field)."""

from __future__ import annotations

from datetime import datetime

from aiohttp.test_utils import TestClient

from server.passes import check_online, signed_revocation_delta
from server.qr import MAX_VERSION, qr_version
from server.storage.buildings import Buildings
from server.storage.passes import Passes
from server.web import state
from shared.campus_time import CAMPUS_TZ
from shared.clock import FakeClock, to_unix
from shared.decision import Reason
from shared.pass_format import PassStatus, decode_pass
from shared.revocation import verify_delta
from tests.passes.conftest import arrive, checkin, login, people, person, publish, real_checkin


async def my_pass(client: TestClient) -> dict:
    r = await client.get("/api/v1/pass")
    assert r.status == 200, await r.text()
    assert r.headers["Cache-Control"] == "no-store"
    return await r.json()


def assert_fits(text: str) -> None:
    assert len(text) <= 154
    assert qr_version(text) <= MAX_VERSION


async def test_full_path_none_black_green_hold_and_back(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    s1 = await person(app, "s1")
    await login(client, "s1")

    # none: no approved return
    body = await my_pass(client)
    assert body["status"] == "none" and body["pass_text"] is None
    assert body["reason_code"] == "no_approved_return" and body["next_step"]

    # approved without a check-in today: black, but no pass yet
    await publish(app, "application_approved", "s1", actor="a1")
    body = await my_pass(client)
    assert body["status"] == "black" and body["pass_text"] is None
    assert body["reason_code"] == "checkin_needed"

    # today's normal check-in: a black pass
    await checkin(app, "s1")
    body = await my_pass(client)
    assert body["status"] == "black"
    black = decode_pass(body["pass_text"]).fields
    assert black.status is PassStatus.BLACK
    assert black.subject == s1.subject
    assert s1.number.encode() not in body["pass_text"].encode()
    campus = (await Buildings(app[state.SERVICES].db).group_ids(["campus"]))[0]
    assert black.scope == (campus,)
    assert black.valid_from_s == to_unix(clock.now())
    # START is 08:00 Shanghai on 2026-03-02: the pass runs to 12:00 on 03-03
    assert black.valid_until == datetime(2026, 3, 3, 12, 0, tzinfo=CAMPUS_TZ)
    assert body["valid_until"] == "2026-03-03T04:00:00Z" and body["valid_until_local"] == "2026-03-03 12:00"
    assert_fits(body["pass_text"])
    verdict = await check_online(app[state.DATADIR], Passes(app[state.SERVICES].db), Buildings(app[state.SERVICES].db),
                                 body["pass_text"], clock.now())
    assert verdict.reason is Reason.NOT_CLEARED  # a black pass opens no door

    # arrival: green, a fresh pass (this test plays the workflow's part of the pass service
    # only, so the arrival is the pass status part without an application)
    clock.advance(600)
    await arrive(app, "s1", "c1")
    body = await my_pass(client)
    green_text = body["pass_text"]
    green = decode_pass(green_text).fields
    assert body["status"] == "green" and green.status is PassStatus.GREEN
    assert green.serial != black.serial and green.subject == s1.subject
    assert_fits(body["pass_text"])
    verdict = await check_online(app[state.DATADIR], Passes(app[state.SERVICES].db), Buildings(app[state.SERVICES].db),
                                 body["pass_text"], clock.now())
    assert verdict.accepted

    # abnormal check-in the next day: hold, passes revoked, reason and next step shown
    clock.advance(86400)
    version_before = await Passes(app[state.SERVICES].db).revocation_version()
    await checkin(app, "s1", abnormal=True)
    body = await my_pass(client)
    assert body["status"] == "hold" and body["pass_text"] is None
    assert body["reason_code"] == "abnormal_checkin" and "counsellor" in body["next_step"]
    delta = await signed_revocation_delta(app[state.DATADIR], Passes(app[state.SERVICES].db), version_before, clock.now())
    parsed = verify_delta(delta, app[state.DATADIR].trust_bundle(), to_unix(clock.now()))
    assert green.serial in {e.serial for e in parsed.entries}
    assert parsed.since == version_before and parsed.version > version_before
    verdict = await check_online(app[state.DATADIR], Passes(app[state.SERVICES].db), Buildings(app[state.SERVICES].db),
                                 green_text, clock.now())
    assert verdict.reason is Reason.REVOKED

    # the same day, a corrected normal check-in does not undo the abnormal one: still on hold
    await checkin(app, "s1")
    body = await my_pass(client)
    assert body["status"] == "hold" and body["pass_text"] is None and body["reason_code"] == "abnormal_checkin"

    # history: every transition with its cause
    r = await client.get("/api/v1/people/s1/pass")
    assert r.status == 403  # a student may not use the staff view
    await login(client, "c1")
    r = await client.post("/api/v1/people/s1/pass/clear", json={"reason": "fever was a faulty thermometer"})
    assert r.status == 200 and (await r.json())["status"] == "green"
    await login(client, "s1")
    body = await my_pass(client)
    again = decode_pass(body["pass_text"]).fields
    assert body["status"] == "green" and again.status is PassStatus.GREEN and again.serial != green.serial
    await login(client, "c1")
    r = await client.get("/api/v1/people/s1/pass")
    hist = (await r.json())["history"]
    assert [(h["from_status"], h["to_status"], h["cause"], h["actor_role"]) for h in reversed(hist)] == [
        ("none", "black", "application_approved", "school_admin"),
        ("black", "green", "arrived", "counsellor"),
        ("green", "hold", "checkin_submitted", "self"),
        ("hold", "green", "hold_cleared", "counsellor"),
    ]



async def test_checkin_of_a_none_person_is_not_written_and_approval_reads_it(client: TestClient,
                                                                              clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    s1 = await person(app, "s1")
    await real_checkin(client, "s1")
    assert await app[state.SERVICES].db.fetch_one("SELECT 1 FROM pass_status WHERE person_id = ?", (s1.id,)) is None
    today = clock.now().astimezone(CAMPUS_TZ).date().isoformat()
    await login(client, "c1")
    staff = await (await client.get("/api/v1/people/s1/pass")).json()
    assert staff["status"] == "none" and staff["last_checkin_day"] == today  # read from the check-ins
    await publish(app, "application_approved", "s1", actor="a1")
    row = await app[state.SERVICES].passes.store.get(s1.id)
    assert row.status == "black" and row.last_checkin_day == today and not row.last_checkin_abnormal
    assert row.current_text is not None
    fields = decode_pass(row.current_text).fields
    assert fields.status is PassStatus.BLACK and fields.serial == row.current_serial
    await login(client, "s1")
    body = await my_pass(client)
    assert body["status"] == "black" and body["pass_text"] == row.current_text


async def test_abnormal_checkin_before_approval_gives_hold(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    s1 = await person(app, "s1")
    await real_checkin(client, "s1", temperature_c=38.2)
    assert await app[state.SERVICES].db.fetch_one("SELECT 1 FROM pass_status WHERE person_id = ?", (s1.id,)) is None
    await publish(app, "application_approved", "s1", actor="a1")
    row = await app[state.SERVICES].passes.store.get(s1.id)
    assert row.status == "hold" and row.base == "black" and row.hold_kind == "abnormal_checkin"
    assert row.current_text is None and row.last_checkin_abnormal
    await login(client, "s1")
    body = await my_pass(client)
    assert body["status"] == "hold" and body["reason_code"] == "abnormal_checkin" and body["pass_text"] is None
