"""Dashboard pages: one-tap reminders through the form (CSRF), the home card, roles."""

from __future__ import annotations

import re

from aiohttp import web

from server.web import state
from tests.dashboards.conftest import Login, add_application, add_people, person, sent_sms

ROSTER = [("S1", "CS", "CS-1", "13900000001"), ("S2", "CS", "CS-1", "13900000002")]


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m is not None
    return m.group(1)


async def test_counsellor_reminds_from_the_page(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, ROSTER)
    await add_application(app, "S2", "approved", "2026-03-04")
    await add_application(app, "S1", "submitted", "2026-03-06")
    r = await c.get("/dashboard")
    html = await r.text()
    assert r.status == 200 and "<svg" in html and 'href="tel:13900000001"' in html
    assert "2026-03-04" in html and 'action="/arrivals/identify"' in html and 'action="/review/approve"' in html
    token = csrf(html)
    s1 = await person(app, "S1")
    r = await c.post("/dashboard/remind", data={"person_id": str(s1.id)})  # no token
    assert r.status == 403
    for _ in range(2):
        r = await c.post("/dashboard/remind", data={"csrf_token": token, "person_id": str(s1.id)},
                         allow_redirects=False)
        assert r.status == 303
    r = await c.post("/dashboard/remind", data={"csrf_token": token, "all": "1"}, allow_redirects=False)
    assert r.headers["Location"] == "/dashboard?msg=reminders_sent&sent=1"
    await app[state.SERVICES].sms_sender.run_once()
    assert sorted(m["phone"] for m in sent_sms(app[state.DATADIR]) if "健康打卡" in m["body"]) == [
        "13900000001", "13900000002"]
    html = await (await c.get("/dashboard")).text()
    assert html.count("已提醒") >= 2


async def test_home_card_and_roles(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    a = await login("A1", role="school_admin", department="ADM")
    s = await login("S9", role="student", department="CS")
    await add_people(app, ROSTER)
    html = await (await c.get("/")).text()
    assert 'href="/dashboard"' in html
    html = await (await a.get("/")).text()
    assert 'href="/dashboard/school"' in html
    r = await c.get("/dashboard/school", allow_redirects=False)
    assert r.status == 403
    r = await s.get("/dashboard", allow_redirects=False)
    assert r.status == 403
    r = await c.get("/api/v1/openapi.json")
    paths = (await r.json())["paths"]
    for p in ("/api/v1/checkins/missing", "/api/v1/reminders", "/api/v1/stats/checkins", "/api/v1/stats/campus",
              "/api/v1/exports/missing.csv"):
        assert p in paths, p
    assert set(paths["/api/v1/reminders"]) == {"get", "post"}


async def test_pages_in_english(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    a = await login("A1", role="school_admin", department="ADM")
    await add_people(app, ROSTER)
    for client, path, title in ((c, "/dashboard", "Counsellor dashboard"), (a, "/dashboard/school", "School dashboard")):
        client.session.cookie_jar.update_cookies({"cp_lang": "en"})
        html = await (await client.get(path)).text()
        assert f"<title>{title}</title>" in html and 'lang="en"' in html


async def test_odd_person_ids_in_the_remind_form_are_ignored_not_500(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, ROSTER)
    token = csrf(await (await c.get("/dashboard")).text())
    for bad in ["²", "9" * 30, "-1", "1e3", ""]:
        r = await c.post("/dashboard/remind", data={"csrf_token": token, "person_id": bad}, allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (303, "/dashboard"), bad
