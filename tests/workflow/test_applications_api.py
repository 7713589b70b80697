"""Return applications over loopback HTTP: submission rules, the two-stage approval, SMS,
rejection and amendment, withdrawal, expiry by the background job, illegal transitions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.storage.audit import AuditLog
from server.storage.pass_status import PassStatusStore
from server.storage.people import People
from server.web import state
from server.workflow.applications import TRANSITIONS, illegal_code, mark_arrived
from shared.clock import FakeClock
from tests.server.conftest import sent_sms
from tests.workflow.conftest import Login, application_body, checkin_body


@pytest.fixture
async def people(login: Login) -> dict[str, TestClient]:
    """A checked-in student of CS, a CS counsellor, an EE counsellor and a school admin."""
    s = await login("S1", name="李四")
    r = await s.post("/api/v1/checkins/today", json=checkin_body())
    assert r.status == 200
    return {
        "student": s,
        "counsellor": await login("C1", role="counsellor", department="CS", departments=("CS",)),
        "other_counsellor": await login("C2", role="counsellor", department="EE", departments=("EE",)),
        "admin": await login("A1", role="school_admin", department=None),
    }


async def submit(c: TestClient, **overrides: Any) -> dict[str, Any]:
    r = await c.post("/api/v1/return-applications", json=application_body(**overrides))
    assert r.status == 201, await r.text()
    return dict(await r.json())


async def act(c: TestClient, app_id: int, verb: str, expect: int = 200, **body: Any) -> dict[str, Any]:
    r = await c.post(f"/api/v1/return-applications/{app_id}/{verb}", json=body)
    data = dict(await r.json())
    assert r.status == expect, data
    return data


async def sms_with(app: web.Application, text: str) -> list[dict[str, Any]]:
    await app[state.SERVICES].sms_sender.run_once()
    return [m for m in sent_sms(app[state.DATADIR]) if text in m["body"]]


async def test_checkin_required_first(login: Login) -> None:
    s = await login("S1")
    r = await s.post("/api/v1/return-applications", json=application_body())
    assert r.status == 409 and (await r.json())["error"]["code"] == "checkin_required"


@pytest.mark.parametrize("missing", ["no_risk_area", "no_case_contact", "no_symptoms", "not_quarantined"])
async def test_each_confirmation_is_required(people: dict[str, TestClient], app: web.Application,
                                             missing: str) -> None:
    body = application_body()
    body["confirmations"][missing] = False
    r = await people["student"].post("/api/v1/return-applications", json=body)
    err = (await r.json())["error"]
    assert r.status == 422 and err["code"] == "confirmation_required"
    assert err["missing"] == [missing] and err["prevention_office_phone"] == "010-12345678"
    del body["confirmations"]
    r = await people["student"].post("/api/v1/return-applications", json=body)
    assert len((await r.json())["error"]["missing"]) == 4
    row = await app[state.SERVICES].db.fetch_one("SELECT COUNT(*) FROM return_applications")
    assert row is not None and row[0] == 0


async def test_field_errors(people: dict[str, TestClient]) -> None:
    s = people["student"]
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"planned_return_date": "2026-03-01"}, "planned_return_date", "planned_date_out_of_range"),
        ({"planned_return_date": "2026-05-01"}, "planned_return_date", "planned_date_out_of_range"),
        ({"planned_return_date": "5 March"}, "planned_return_date", "bad_date"),
        ({"departure_region_code": "123"}, "departure_region_code", "region_not_6_digits"),
        ({"itinerary": []}, "itinerary", "required"),
        ({"reason": "  "}, "reason", "required"),
    ]
    for overrides, field, code in cases:
        r = await s.post("/api/v1/return-applications", json=application_body(**overrides))
        err = (await r.json())["error"]
        assert r.status == 422 and (err["fields"][0]["field"], err["fields"][0]["code"]) == (field, code), err
    leg = application_body()["itinerary"][0] | {"mode": "boat", "arrive_at": "2026-03-05T07:00"}
    r = await s.post("/api/v1/return-applications", json=application_body(itinerary=[leg]))
    fields = {(f["field"], f["code"]) for f in (await r.json())["error"]["fields"]}
    assert fields == {("itinerary[0].mode", "bad_choice"), ("itinerary[0].arrive_at", "arrives_before_departure")}


async def test_full_path_with_exactly_one_sms(people: dict[str, TestClient], app: web.Application) -> None:
    s, c, a = people["student"], people["counsellor"], people["admin"]
    created = await submit(s)
    assert created["state"] == "submitted" and created["stage"] == "dept" and created["version"] == 1
    assert created["confirmations_version"] == "2026-1" and set(created["confirmations"]) == {
        "no_risk_area", "no_case_contact", "no_symptoms", "not_quarantined"}
    assert created["itinerary"][0]["depart_at"] == "2026-03-05T08:00:00+08:00"
    app_id = created["id"]
    queue = await (await c.get("/api/v1/review/return-applications?stage=dept")).json()
    assert [(i["number"], i["application"]["id"]) for i in queue["items"]] == [("S1", app_id)]
    assert (await act(c, app_id, "approve"))["state"] == "dept_approved"
    school_queue = await (await a.get("/api/v1/review/return-applications?stage=school")).json()
    assert [i["application"]["id"] for i in school_queue["items"]] == [app_id]
    final = await act(a, app_id, "approve")
    assert final["state"] == "approved" and final["stage"] is None
    assert [(t["from_state"], t["to_state"], t["actor_role"]) for t in final["transitions"]] == [
        (None, "submitted", "student"), ("submitted", "dept_approved", "counsellor"),
        ("dept_approved", "approved", "school_admin")]
    assert all(t["actor_name"] and t["at"] for t in final["transitions"])
    err = await act(a, app_id, "approve", expect=409)
    assert err["error"]["code"] == "already_decided"
    messages = await sms_with(app, "已通过学校审批")
    assert len(messages) == 1 and messages[0]["phone"] == "13800000001" and "2026-03-05" in messages[0]["body"]
    applicant = await People(app[state.SERVICES].db).by_number("S1")
    assert applicant is not None
    # the approval's pass status committed with it: black, one history row caused by the approval
    status = PassStatusStore(app[state.SERVICES].db)
    assert (await status.get(applicant.id)).status == "black"
    assert [(h.from_status, h.to_status, h.cause) for h in await status.history(applicant.id)] == [
        ("none", "black", "application_approved")]
    mine = await (await s.get("/api/v1/return-applications/mine")).json()
    assert mine["active"]["id"] == app_id and mine["active"]["state"] == "approved"
    audit = await AuditLog(app[state.SERVICES].db).recent(target_person_id=applicant.id)
    assert sorted((e.actor_number, e.action) for e in audit if e.action.startswith("application_")) == [
        ("A1", "application_school_approve"), ("C1", "application_dept_approve")]


async def test_rejection_and_amendment(people: dict[str, TestClient], app: web.Application) -> None:
    s, c, a = people["student"], people["counsellor"], people["admin"]
    first = await submit(s)
    r = await c.post(f"/api/v1/return-applications/{first['id']}/reject", json={"reason": " "})
    assert r.status == 422 and (await r.json())["error"]["fields"][0]["field"] == "reason"
    rejected = await act(c, first["id"], "reject", reason="行程信息不完整")
    assert rejected["state"] == "dept_rejected" and rejected["decision_reason"] == "行程信息不完整"
    texts = await sms_with(app, "行程信息不完整")
    assert len(texts) == 1 and "院系" in texts[0]["body"]
    await act(s, first["id"], "withdraw", expect=409)
    second = await (await s.post(f"/api/v1/return-applications/{first['id']}/amend",
                                 json=application_body(reason="开学返校，补充行程"))).json()
    assert second["version"] == 2 and second["previous_id"] == first["id"] and second["state"] == "submitted"
    err = await act(s, first["id"], "amend", expect=409, **application_body())
    assert err["error"]["code"] == "already_amended"
    await act(c, second["id"], "approve")
    await act(a, second["id"], "reject", reason="请推迟返校")
    again = await (await s.post(f"/api/v1/return-applications/{second['id']}/amend",
                                json=application_body())).json()
    assert again["version"] == 3
    mine = await (await s.get("/api/v1/return-applications/mine")).json()
    assert [(x["version"], x["state"]) for x in mine["applications"]] == [
        (3, "submitted"), (2, "school_rejected"), (1, "dept_rejected")]
    assert mine["applications"][1]["decision_reason"] == "请推迟返校"


async def test_one_active_application_and_withdrawal(people: dict[str, TestClient], app: web.Application) -> None:
    s, c = people["student"], people["counsellor"]
    first = await submit(s)
    r = await s.post("/api/v1/return-applications", json=application_body())
    assert r.status == 409 and (await r.json())["error"]["code"] == "active_application_exists"
    await act(c, first["id"], "approve")
    withdrawn = await act(s, first["id"], "withdraw", reason="改为线上学习")
    assert withdrawn["state"] == "withdrawn" and withdrawn["transitions"][-1]["reason"] == "改为线上学习"
    assert (await act(s, first["id"], "withdraw", expect=409))["error"]["code"] == "not_active"
    assert (await act(c, first["id"], "approve", expect=409))["error"]["code"] == "not_active"
    second = await submit(s)
    assert second["version"] == 1 and second["id"] != first["id"]


async def test_arrival_then_no_withdrawal(people: dict[str, TestClient], app: web.Application,
                                          clock: FakeClock) -> None:
    s, c, a = people["student"], people["counsellor"], people["admin"]
    app_id = (await submit(s))["id"]
    early = await act(a, app_id, "approve", expect=409)
    assert early["error"]["code"] == "dept_stage_pending"
    await act(c, app_id, "approve")
    await act(a, app_id, "approve")
    counsellor_row = await app[state.SERVICES].db.fetch_one("SELECT id FROM people WHERE number = 'C1'")
    assert counsellor_row is not None
    arrived = await mark_arrived(app[state.SERVICES].db, app_id, actor_id=counsellor_row[0], actor_role="counsellor",
                                 at=clock.now())
    assert arrived.state == "arrived" and arrived.arrived_by == counsellor_row[0]
    assert (await act(s, app_id, "withdraw", expect=409))["error"]["code"] == "already_arrived"
    with pytest.raises(Exception) as info:
        await mark_arrived(app[state.SERVICES].db, app_id, actor_id=counsellor_row[0], actor_role="counsellor", at=clock.now())
    assert getattr(info.value, "code", "") == "already_arrived"


async def test_counsellor_of_another_department_is_refused(people: dict[str, TestClient]) -> None:
    app_id = (await submit(people["student"]))["id"]
    err = await act(people["other_counsellor"], app_id, "approve", expect=403)
    assert err["error"]["code"] == "department_scope"
    err = await act(people["other_counsellor"], app_id, "reject", expect=403, reason="不同意")
    assert err["error"]["code"] == "department_scope"
    queue = await (await people["other_counsellor"].get("/api/v1/review/return-applications")).json()
    assert queue["items"] == []
    r = await people["other_counsellor"].get(f"/api/v1/return-applications/{app_id}")
    assert r.status == 404
    r = await people["student"].post(f"/api/v1/return-applications/{app_id}/approve", json={})
    assert r.status == 403


async def test_an_out_of_scope_id_answers_exactly_like_a_missing_one(people: dict[str, TestClient]) -> None:
    """No existence oracle: another department's application and an id that does not exist get
    the same status, code and message (up to the id) on every route a counsellor may call."""
    app_id = (await submit(people["student"]))["id"]
    missing = app_id + 1000
    other = people["other_counsellor"]
    for verb, body in (("approve", {}), ("reject", {"reason": "不同意"})):
        a = await other.post(f"/api/v1/return-applications/{app_id}/{verb}", json=body)
        b = await other.post(f"/api/v1/return-applications/{missing}/{verb}", json=body)
        ja, jb = await a.json(), await b.json()
        assert a.status == b.status == 403
        assert ja["error"]["code"] == jb["error"]["code"] == "department_scope"
        assert ja["error"]["message"].replace(str(app_id), "N") == jb["error"]["message"].replace(str(missing), "N")
    a = await other.get(f"/api/v1/return-applications/{app_id}")
    b = await other.get(f"/api/v1/return-applications/{missing}")
    assert a.status == b.status == 404
    assert (await a.json())["error"]["message"].replace(str(app_id), "N") == \
        (await b.json())["error"]["message"].replace(str(missing), "N")


async def test_expiry_by_the_background_job(people: dict[str, TestClient], app: web.Application,
                                            clock: FakeClock) -> None:
    s, c = people["student"], people["counsellor"]
    app_id = (await submit(s, planned="2026-03-03"))["id"]
    await act(c, app_id, "approve")
    service = app[state.SERVICES].applications
    # planned 03-03 + 2 grace days: expires at 2026-03-06 00:00 Asia/Shanghai = 03-05 16:00 UTC
    clock.set_wall(clock.now().replace(day=5, hour=15, minute=59, second=59))
    assert await service.expire_due(clock.now()) == []
    clock.advance(1)
    assert await service.expire_due(clock.now()) == [app_id]
    assert await service.expire_due(clock.now()) == []
    data = await (await s.get(f"/api/v1/return-applications/{app_id}")).json()
    assert data["state"] == "expired" and data["transitions"][-1]["actor_role"] == "system"
    assert (await act(c, app_id, "approve", expect=409))["error"]["code"] == "not_active"
    assert (await act(s, app_id, "withdraw", expect=409))["error"]["code"] == "not_active"


async def test_batch_approval_from_the_filtered_list(login: Login, app: web.Application,
                                                     people: dict[str, TestClient]) -> None:
    ids = [(await submit(people["student"]))["id"]]
    for n in ("S2", "S3"):
        other = await login(n)
        await other.post("/api/v1/checkins/today", json=checkin_body())
        ids.append((await submit(other))["id"])
    stranger = await login("S9", department="EE")
    await stranger.post("/api/v1/checkins/today", json=checkin_body())
    foreign = (await submit(stranger))["id"]
    queue = await (await people["counsellor"].get("/api/v1/review/return-applications?status=submitted")).json()
    assert sorted(i["application"]["id"] for i in queue["items"]) == sorted(ids)
    r = await people["counsellor"].post("/api/v1/review/return-applications/approve", json={"ids": [*ids, foreign]})
    results = (await r.json())["results"]
    assert [(x["id"], x["ok"], x["state"] or x["code"]) for x in results] == [
        *[(i, True, "dept_approved") for i in ids], (foreign, False, "department_scope")]
    r = await people["admin"].post("/api/v1/review/return-applications/approve", json={"ids": ids})
    assert all(x["state"] == "approved" for x in (await r.json())["results"])
    assert len(await sms_with(app, "已通过学校审批")) == 3
    r = await people["admin"].post("/api/v1/review/return-applications/approve", json={"ids": []})
    assert r.status == 422


async def test_revoke_needs_school_admin_and_reason(people: dict[str, TestClient], app: web.Application) -> None:
    app_id = (await submit(people["student"]))["id"]
    r = await people["counsellor"].post(f"/api/v1/return-applications/{app_id}/revoke", json={"reason": "x"})
    assert r.status == 403
    assert (await act(people["admin"], app_id, "revoke", expect=422))["error"]["code"] == "invalid_field"
    revoked = await act(people["admin"], app_id, "revoke", reason="疫情形势变化")
    assert revoked["state"] == "revoked" and revoked["decision_reason"] == "疫情形势变化"


def test_every_illegal_transition_has_a_clear_code() -> None:
    states = ("draft", "submitted", "dept_approved", "approved", "arrived", "dept_rejected", "school_rejected",
              "withdrawn", "expired", "revoked")
    actions = ("submit", "dept_approve", "dept_reject", "school_approve", "school_reject", "arrive", "withdraw",
               "expire", "revoke", "amend")
    for s in states:
        for a in actions:
            if (s, a) not in TRANSITIONS:
                assert illegal_code(s, a) in ("dept_stage_pending", "already_decided", "already_arrived",
                                              "not_active", "not_rejected", "not_approved", "illegal_transition")
    assert illegal_code("submitted", "school_approve") == "dept_stage_pending"
    assert illegal_code("dept_approved", "dept_approve") == "already_decided"
    assert illegal_code("approved", "school_approve") == "already_decided"
    assert illegal_code("arrived", "withdraw") == "already_arrived"
    assert illegal_code("submitted", "arrive") == "not_approved"


async def test_routes_are_in_openapi(client: TestClient) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for path in ("/api/v1/checkins/today", "/api/v1/checkins", "/api/v1/return-applications",
                 "/api/v1/return-applications/mine", "/api/v1/return-applications/{id}/withdraw",
                 "/api/v1/review/return-applications", "/api/v1/return-applications/{id}/approve",
                 "/api/v1/return-applications/{id}/reject", "/api/v1/review/return-applications/approve"):
        assert path in doc["paths"], path


async def test_malformed_bodies_are_4xx(people: dict[str, TestClient]) -> None:
    s = people["student"]
    r = await s.post("/api/v1/return-applications", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["error"]["code"] == "malformed_json"
    r = await s.post("/api/v1/return-applications", json={"itinerary": "G1"})
    assert r.status == 422
    r = await s.post("/api/v1/return-applications/abc/withdraw", json={})
    assert r.status == 404 and "error" in await r.json()
    r = await s.post("/api/v1/return-applications/999/withdraw", json={})
    assert r.status == 404




async def test_hostile_inputs_never_500(people: dict[str, TestClient]) -> None:
    s, c = people["student"], people["counsellor"]
    leg = application_body()["itinerary"][0]
    bodies: list[Any] = [
        application_body(itinerary=[leg | {"depart_at": "9999-12-31T23:59:59-12:00"}]),
        application_body(itinerary=[leg | {"arrive_at": "0001-01-01T00:00:00+14:00"}]),
        application_body(itinerary=[leg | {"from_region_code": 110108}]),
        application_body(itinerary=[leg] * 11),
        application_body(planned_return_date="9999-12-31"),
        application_body(reason="x" * 10_000),
        application_body(confirmations={"no_risk_area": "yes"}),
        application_body(confirmations={"extra": True}),
        [], "text", None, {"planned_return_date": None},
    ]
    for b in bodies:
        r = await s.post("/api/v1/return-applications", json=b)
        assert 400 <= r.status < 500 and "error" in await r.json(), (b, r.status)
    for b in ({"temperature_c": float("nan")}, {"symptoms": "none"}, {"temperature_c": 1e308},
              {"symptoms": [None]}, {"same_as_yesterday": "yes"}):
        r = await s.post("/api/v1/checkins/today", data=json.dumps(checkin_body(**b)),
                         headers={"Content-Type": "application/json"})
        assert 400 <= r.status < 500 and "error" in await r.json(), (b, r.status)
    for q in ("stage=other", "status=nonsense", "limit=-1", "offset=x"):
        r = await c.get(f"/api/v1/review/return-applications?{q}")
        assert r.status == 422, q
    r = await c.post("/api/v1/review/return-applications/approve", json={"ids": ["1"]})
    assert r.status == 422
