"""Check-in, application and review pages: forms with CSRF, field errors, the prevention
office's phone, the home page in the guide's order, batch approval from the list."""

from __future__ import annotations

import re

from aiohttp import web

from server.workflow.checkins import YES_NO_QUESTIONS
from tests.server.conftest import CSRF_FIELD as _CSRF
from tests.server.conftest import csrf
from tests.workflow.conftest import Login, application_body, checkin_body


def checkin_form(token: str, **overrides: str) -> dict[str, str]:
    form = {"csrf_token": token, "location_kind": "other_province", "region_code": "420102",
            "temperature_c": "36.5", "symptoms": "none", "case_status": "none", "remarks": "", "attest": "yes",
            **{question: "no" for question in YES_NO_QUESTIONS}}
    form.update(overrides)
    return form


def apply_form(token: str, **overrides: str) -> dict[str, str]:
    form = {"csrf_token": token, "planned_return_date": "2026-03-05", "departure_region_code": "420102",
            "leg0_mode": "rail", "leg0_service_no": "G1234", "leg0_from_region_code": "420102",
            "leg0_to_region_code": "110108", "leg0_depart_at": "2026-03-05T08:00",
            "leg0_arrive_at": "2026-03-05T12:30", "leg1_mode": "", "reason": "开学返校",
            "no_risk_area": "yes", "no_case_contact": "yes", "no_symptoms": "yes", "not_quarantined": "yes"}
    form.update(overrides)
    return form


async def test_home_walks_through_the_guide(login: Login) -> None:
    s = await login("S1")
    text = await (await s.get("/")).text()
    assert "今日尚未打卡" in text and text.index("健康打卡") < text.index("返校申请")
    assert 'href="/apply"' not in text  # no application before today's check-in
    token = await csrf(s, "/checkin")
    r = await s.post("/checkin", data=checkin_form(token), allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/?msg=checkin_saved"
    text = await (await s.get("/?msg=checkin_saved")).text()
    assert "打卡成功" in text and "今日已打卡" in text and 'href="/apply"' in text


async def test_checkin_form_errors_and_csrf(login: Login) -> None:
    s = await login("S1")
    token = await csrf(s, "/checkin")
    r = await s.post("/checkin", data=checkin_form(token, temperature_c="45", attest=""))
    text = await r.text()
    assert r.status == 422 and "体温应在 34.0–42.5 °C 之间" in text and "请勾选真实性承诺" in text
    r = await s.post("/checkin", data=checkin_form("forged"))
    assert r.status == 403


async def test_same_as_yesterday_button(login: Login, clock: object) -> None:
    s = await login("S1")
    token = await csrf(s, "/checkin")
    await s.post("/checkin", data=checkin_form(token), allow_redirects=False)
    clock.advance(86400)  # type: ignore[attr-defined]
    text = await (await s.get("/checkin")).text()
    assert "与昨日相同，一键打卡" in text
    r = await s.post("/checkin/same", data={"csrf_token": token}, allow_redirects=False)
    assert r.status == 303
    r = await s.get("/api/v1/checkins/today")
    assert (await r.json())["checkin"]["same_as_yesterday"] is True


async def test_missing_confirmation_shows_the_phone(login: Login) -> None:
    s = await login("S1")
    await s.post("/api/v1/checkins/today", json=checkin_body())
    token = await csrf(s, "/apply")
    form = apply_form(token)
    del form["not_quarantined"]
    r = await s.post("/apply", data=form)
    text = await r.text()
    assert r.status == 422 and "010-12345678" in text and "以下承诺未勾选" in text
    assert "本人目前未处于隔离或医学观察期" in text.split("以下承诺未勾选")[1].split("</ul>")[0]  # names it
    assert text.count('value="yes" checked') == 3  # the other ticks stay
    assert (await (await s.get("/api/v1/return-applications/mine")).json())["applications"] == []


async def test_apply_review_and_progress_on_home(login: Login, app: web.Application) -> None:
    s = await login("S1", name="王五")
    await s.post("/api/v1/checkins/today", json=checkin_body())
    token = await csrf(s, "/apply")
    r = await s.post("/apply", data=apply_form(token), allow_redirects=False)
    assert r.status == 303, await r.text()
    c = await login("C1", role="counsellor", department="CS", departments=("CS",), name="赵老师")
    page = await (await c.get("/review")).text()
    assert "王五" in page
    ids = re.findall(r'name="ids" value="(\d+)"', page)
    ctoken = _CSRF.search(page).group(1)  # type: ignore[union-attr]
    r = await c.post("/review/approve", data={"csrf_token": ctoken, "ids": ids, "stage": "dept"},
                     allow_redirects=False)
    assert r.status == 303 and "error" not in r.headers["Location"]
    a = await login("A1", role="school_admin", department=None)
    page = await (await a.get("/review?stage=school")).text()
    atoken = _CSRF.search(page).group(1)  # type: ignore[union-attr]
    r = await a.post(f"/review/{ids[0]}/reject", data={"csrf_token": atoken, "reason": "请延后一周返校"},
                     allow_redirects=False)
    assert r.status == 303
    home = await (await s.get("/")).text()
    assert "学校未通过" in home and "请延后一周返校" in home and "赵老师" in home
    assert f'href="/apply?amend={ids[0]}"' in home
    amend_page = await (await s.get(f"/apply?amend={ids[0]}")).text()
    assert 'value="G1234"' in amend_page


async def test_reviewer_pages_are_for_reviewers(login: Login) -> None:
    s = await login("S1")
    r = await s.get("/review")
    assert r.status == 403
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    r = await c.get("/checkin")
    assert r.status == 403
    r = await c.get("/review?status=nonsense&error=<script>")
    text = await r.text()
    assert r.status == 200 and "<script>" not in text


async def test_withdraw_from_home(login: Login) -> None:
    s = await login("S1")
    await s.post("/api/v1/checkins/today", json=checkin_body())
    created = await (await s.post("/api/v1/return-applications", json=application_body())).json()
    home = await (await s.get("/")).text()
    token = _CSRF.search(home).group(1)  # type: ignore[union-attr]
    r = await s.post(f"/applications/{created['id']}/withdraw", data={"csrf_token": token}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/?msg=application_withdrawn"
    assert "已撤回" in await (await s.get("/")).text()


def test_every_state_and_refusal_is_translated() -> None:
    from server.web.catalogue import Catalogue
    from server.workflow.applications import TRANSITIONS, illegal_code

    texts = Catalogue.load()
    states = {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values())
    codes = {illegal_code(s, a) for s in states for a in ("dept_approve", "school_approve", "withdraw", "amend",
                                                          "arrive", "revoke", "expire")}
    codes |= {"checkin_required", "confirmation_required", "active_application_exists", "no_checkin_yesterday",
              "temperature_out_of_range", "none_exclusive", "region_not_6_digits", "region_unknown_province",
              "attest_required", "planned_date_out_of_range", "arrives_before_departure"}
    for lang in ("zh-CN", "en"):
        missing = [k for k in sorted({f"state_{s}" for s in states} | codes) if k not in texts.texts[lang]]
        assert missing == [], (lang, missing)


async def test_odd_ids_in_forms_and_links_are_ignored_not_500(login: Login) -> None:
    s = await login("S1")
    await s.post("/api/v1/checkins/today", json=checkin_body())
    for bad in ["²", "9" * 30]:
        r = await s.get(f"/apply?amend={bad}")
        assert r.status == 200, bad  # the blank form, as without ?amend
    token = await csrf(s, "/apply")
    r = await s.post("/apply", data=apply_form(token, amend="9" * 30), allow_redirects=False)
    assert r.status == 303, await r.text()  # a new application, not an amendment
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    ctoken = await csrf(c, "/review")
    for bad in ["²", "9" * 30]:
        r = await c.post("/review/approve", data={"csrf_token": ctoken, "ids": bad, "stage": "dept"},
                         allow_redirects=False)
        assert r.status == 303, bad
