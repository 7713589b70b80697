"""Pass validity across midnight, the missed check-in job, holds by staff, revocation on drops."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp.test_utils import TestClient

from server.passes import check_online, signed_revocation_delta
from server.storage.audit import AuditLog
from server.storage.buildings import Buildings
from server.storage.passes import REVOCATION_HISTORY_S, SUBJECT_ENTRY_S, Passes
from server.web import state
from shared.campus_time import CAMPUS_TZ
from shared.clock import FakeClock, to_unix
from shared.decision import Reason
from shared.pass_format import PassStatus, decode_pass
from shared.revocation import verify_delta
from tests.passes.conftest import approve, checkin, green, login, people, person, publish, real_checkin


async def verdict(client: TestClient, text: str) -> Reason:
    app = client.server.app
    assert app is not None
    v = await check_online(app[state.DATADIR], Passes(app[state.SERVICES].db), Buildings(app[state.SERVICES].db), text,
                           app[state.CLOCK].now())
    return v.reason


async def revoked_since(client: TestClient, version: int) -> set[bytes]:
    app = client.server.app
    assert app is not None
    now = app[state.CLOCK].now()
    doc = await signed_revocation_delta(app[state.DATADIR], Passes(app[state.SERVICES].db), version, now)
    delta = verify_delta(doc, app[state.DATADIR].trust_bundle(), to_unix(now))
    return {e.serial for e in delta.entries if e.serial is not None}


async def test_issued_at_2300_valid_at_0700_expired_after_deadline(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    clock.set_wall(datetime(2026, 3, 2, 23, 0, tzinfo=CAMPUS_TZ))
    text = await green(client)
    fields = decode_pass(text).fields
    assert fields.status is PassStatus.GREEN
    assert fields.valid_from == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert fields.valid_until == datetime(2026, 3, 3, 12, 0, tzinfo=CAMPUS_TZ)

    clock.set_wall(datetime(2026, 3, 3, 7, 0, tzinfo=CAMPUS_TZ))  # next morning, no check-in yet
    assert await verdict(client, text) is Reason.ACCEPTED
    await login(client, "s1")
    body = await (await client.get("/api/v1/pass")).json()
    assert body["status"] == "green" and body["pass_text"] == text
    assert await app[state.SERVICES].passes.sweep_missed_checkins(clock.now()) == 0  # before the deadline

    clock.set_wall(datetime(2026, 3, 3, 11, 59, 59, tzinfo=CAMPUS_TZ))
    assert await verdict(client, text) is Reason.ACCEPTED
    clock.set_wall(datetime(2026, 3, 3, 12, 0, tzinfo=CAMPUS_TZ))
    assert await verdict(client, text) is Reason.EXPIRED
    body = await (await client.get("/api/v1/pass")).json()
    assert body["status"] == "green" and body["pass_text"] is None and body["reason_code"] == "checkin_needed"


async def test_missed_checkin_job_holds_and_a_checkin_clears(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    text = await green(client)  # 08:00 on 03-02, valid to 12:00 on 03-03
    svc = app[state.SERVICES].passes
    clock.set_wall(datetime(2026, 3, 3, 12, 5, tzinfo=CAMPUS_TZ))
    assert await svc.sweep_missed_checkins(clock.now()) == 1
    assert await svc.sweep_missed_checkins(clock.now()) == 0  # idempotent
    s1 = await person(app, "s1")
    row = await svc.store.get(s1.id)
    assert (row.status, row.base, row.hold_kind) == ("hold", "green", "missed_checkin")
    await login(client, "s1")
    body = await (await client.get("/api/v1/pass")).json()
    assert body["reason_code"] == "missed_checkin" and "2026-03-03" in body["reason"]
    assert await verdict(client, text) is Reason.EXPIRED

    clock.advance(3600)
    await checkin(app, "s1")
    body = await (await client.get("/api/v1/pass")).json()
    assert body["status"] == "green" and body["pass_text"]
    assert decode_pass(body["pass_text"]).fields.valid_until == datetime(2026, 3, 4, 12, 0, tzinfo=CAMPUS_TZ)
    assert await verdict(client, body["pass_text"]) is Reason.ACCEPTED


async def test_staff_hold_and_clear_recorded_with_who_and_why(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    text = await green(client)
    await green(client, "o1")
    version = await Passes(app[state.SERVICES].db).revocation_version()
    await login(client, "c1")
    r = await client.post("/api/v1/people/s1/pass/hold", json={"reason": "close contact reported by the city"})
    body = await r.json()
    assert r.status == 200, body
    assert (body["status"], body["hold_kind"], body["reason"]) == ("hold", "admin", "close contact reported by the city")
    assert decode_pass(text).fields.serial in await revoked_since(client, version)
    assert await verdict(client, text) is Reason.REVOKED

    # another department's student: refused, same answer as for nobody
    r1 = await client.post("/api/v1/people/o1/pass/hold", json={"reason": "x"})
    r2 = await client.post("/api/v1/people/nobody/pass/hold", json={"reason": "x"})
    assert r1.status == r2.status == 403
    assert (await r1.json()) == (await r2.json())
    r = await client.post("/api/v1/people/s1/pass/hold", json={"reason": " "})
    assert r.status == 422

    # a normal check-in does not clear an admin hold
    clock.advance(600)
    await checkin(app, "s1")
    s1 = await person(app, "s1")
    assert (await app[state.SERVICES].passes.store.get(s1.id)).status == "hold"

    r = await client.post("/api/v1/people/s1/pass/clear", json={"reason": "test negative"})
    body = await r.json()
    assert r.status == 200 and body["status"] == "green" and body["current_serial"]
    c1 = await person(app, "c1")
    latest = body["history"][0]
    assert (latest["from_status"], latest["to_status"], latest["cause"], latest["reason"], latest["actor_id"]) == (
        "hold", "green", "hold_cleared", "test negative", c1.id)
    r = await client.post("/api/v1/people/s1/pass/clear", json={"reason": "again"})
    assert r.status == 409 and (await r.json())["error"]["code"] == "not_on_hold"
    actions = [(e.action, e.detail) for e in await AuditLog(app[state.SERVICES].db).recent(target_person_id=s1.id)]
    assert ("pass_hold", {"reason": "close contact reported by the city"}) in actions
    assert ("health_view", {"view": "pass_status"}) not in actions
    await client.get("/api/v1/people/s1/pass")
    actions = [(e.action, e.detail) for e in await AuditLog(app[state.SERVICES].db).recent(target_person_id=s1.id)]
    assert ("health_view", {"view": "pass_status"}) in actions
    assert ("pass_hold_cleared", {"reason": "test negative"}) in actions


async def test_admin_revoke_puts_serials_on_the_list(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    text = await green(client)
    version = await Passes(app[state.SERVICES].db).revocation_version()
    await login(client, "c1")
    r = await client.post("/api/v1/people/s1/pass/revoke", json={"reason": "lost phone"})
    assert r.status == 403  # school admins only
    await login(client, "a1")
    r = await client.post("/api/v1/people/s1/pass/revoke", json={"reason": "lost phone"})
    body = await r.json()
    assert r.status == 200 and body["status"] == "hold" and body["reason"] == "lost phone"
    assert decode_pass(text).fields.serial in await revoked_since(client, version)
    await login(client, "s1")
    body = await (await client.get("/api/v1/pass")).json()
    assert body["reason_code"] == "admin_hold" and body["reason"] == "lost phone" and body["pass_text"] is None


async def test_withdraw_expire_revoke_drop_to_none_and_revoke(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    svc = app[state.SERVICES].passes
    s1 = await person(app, "s1")

    await publish(app, "application_approved", "s1", actor="a1")
    await publish(app, "application_approved", "s1", actor="a1")  # applied twice: nothing changes
    await checkin(app, "s1")
    black = (await svc.store.get(s1.id)).current_text
    assert black and decode_pass(black).fields.status is PassStatus.BLACK
    version = await Passes(app[state.SERVICES].db).revocation_version()
    await publish(app, "application_withdrawn", "s1", actor="s1")
    row = await svc.store.get(s1.id)
    assert row.status == "none" and row.current_text is None
    assert decode_pass(black).fields.serial in await revoked_since(client, version)

    await publish(app, "application_approved", "s1", actor="a1")
    black2 = (await svc.store.get(s1.id)).current_text
    assert black2 and black2 != black
    await publish(app, "application_expired", "s1")
    assert (await svc.store.get(s1.id)).status == "none"

    text = await green(client)
    await publish(app, "application_withdrawn", "s1", actor="s1")  # after arrival: no effect
    assert (await svc.store.get(s1.id)).status == "green"
    version = await Passes(app[state.SERVICES].db).revocation_version()
    await publish(app, "application_revoked", "s1", actor="a1", reason="false itinerary")
    row = await svc.store.get(s1.id)
    assert (row.status, row.reason) == ("none", "false itinerary")
    assert decode_pass(text).fields.serial in await revoked_since(client, version)
    hist = await svc.store.history(s1.id)
    assert [h.cause for h in reversed(hist)] == [
        "application_approved", "application_withdrawn", "application_approved", "application_expired",
        "application_approved", "arrived", "application_revoked"]
    await login(client, "s1")
    body = await (await client.get("/api/v1/pass")).json()
    assert body["reason_code"] == "application_ended" and body["reason"] == "false itinerary"


async def test_abnormal_checkin_before_arrival_holds_black(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await approve(client, "s1")
    await real_checkin(client, "s1", temperature_c=38.2)  # the same day, corrected: fever
    svc = app[state.SERVICES].passes
    s1 = await person(app, "s1")
    row = await svc.store.get(s1.id)
    assert (row.status, row.base) == ("hold", "black")
    # still on the counsellor's pending list; confirming keeps the hold but arrives
    await login(client, "c1")
    assert [s["number"] for s in (await (await client.get("/api/v1/arrivals/pending")).json())["students"]] == ["s1"]
    r = await client.post("/api/v1/arrivals", json={"number": "s1"})
    assert r.status == 200 and (await r.json())["status"] == "hold"
    row = await svc.store.get(s1.id)
    assert (row.status, row.base) == ("hold", "green")
    await real_checkin(client, "s1")  # the same day, back to normal: the abnormal answer stays on record
    assert (await svc.store.get(s1.id)).status == "hold"
    r = await client.post("/api/v1/people/s1/pass/clear", json={"reason": "seen by the clinic"})
    assert r.status == 200 and (await r.json())["status"] == "green"


async def test_staff_pass_page_hold_clear_revoke(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await green(client)
    await green(client, "o1")
    await login(client, "c1")
    page = await (await client.get("/passes?number=s1")).text()
    assert "Zhang San" in page and 'action="/passes/s1/hold"' in page and "/revoke" not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    r = await client.post("/passes/s1/hold", data={"csrf_token": token.group(1), "reason": "fever reported"},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/passes?number=s1&msg=saved"
    page = await (await client.get("/passes?number=s1")).text()
    assert "fever reported" in page and 'action="/passes/s1/clear"' in page
    r = await client.post("/passes/s1/revoke", data={"csrf_token": token.group(1), "reason": "x"})
    assert r.status == 403
    r = await client.post("/passes/s1/clear", data={"csrf_token": token.group(1), "reason": ""})
    assert r.status == 422
    r = await client.post("/passes/s1/clear", data={"csrf_token": token.group(1), "reason": "negative test"},
                          allow_redirects=False)
    assert r.status == 303
    # another department: refused, no name
    r = await client.get("/passes?number=o1")
    assert r.status == 403 and "Li Si" not in await r.text()
    r = await client.post("/passes/o1/hold", data={"csrf_token": token.group(1), "reason": "x"})
    assert r.status == 403 and "Li Si" not in await r.text()
    await login(client, "a1")
    page = await (await client.get("/passes?number=o1")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token and 'action="/passes/o1/revoke"' in page
    r = await client.post("/passes/o1/revoke", data={"csrf_token": token.group(1), "reason": "lost phone"},
                          allow_redirects=False)
    assert r.status == 303
    o1 = await person(app, "o1")
    assert (await app[state.SERVICES].passes.store.get(o1.id)).hold_kind == "admin"


async def test_job_purges_expired_revocations(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    text = await green(client)
    version = await Passes(app[state.SERVICES].db).revocation_version()
    c1 = await person(app, "c1")
    await app[state.SERVICES].passes.hold((await person(app, "s1")).id, "test", c1.id, clock.now(),
                                       actor_role="counsellor")
    assert decode_pass(text).fields.serial in await revoked_since(client, version)
    clock.set_wall(decode_pass(text).fields.valid_until)  # the pass would have expired now
    clock.advance(1)
    before = await Passes(app[state.SERVICES].db).revocation_version()
    held, purged = await app[state.SERVICES].passes.run_once(clock.now())
    # expired: no node gets the serial entries any more, but the server keeps them a while to
    # check late uploads of offline doors against them
    assert (held, purged) == (0, 0)
    assert decode_pass(text).fields.serial not in await revoked_since(client, version)
    clock.advance(REVOCATION_HISTORY_S + SUBJECT_ENTRY_S)
    held, purged = await app[state.SERVICES].passes.run_once(clock.now())
    # the black and the green pass were revoked by serial, then the person by subject (the newest
    # row, which keeps the version)
    assert (held, purged) == (0, 2)
    assert await Passes(app[state.SERVICES].db).revocation_version() == before
    assert await revoked_since(client, version) == set()


async def test_no_issuer_key_still_changes_status(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await approve(client, "s1")
    clock.advance(500 * 86400)  # the issuer certificate (400 days) has run out; nobody rotated
    await checkin(app, "s1")
    s1 = await person(app, "s1")
    row = await app[state.SERVICES].passes.store.get(s1.id)
    assert row.status == "black" and row.last_checkin_day is not None
    await login(client, "s1")
    body = await (await client.get("/api/v1/pass")).json()
    assert body["status"] == "black" and body["reason_code"] == "pass_unavailable" and body["pass_text"] is None
