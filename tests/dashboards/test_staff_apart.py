"""Staff are not students: apart in a counsellor's figures and reminders, addressed as 老师."""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp import web

from server.web import state
from tests.dashboards.conftest import add_people, checkin, sent_sms
from tests.workflow.conftest import Login

STUDENTS = [("S1", "CS", "CS-1", "13900000001"), ("S2", "CS", "CS-1", "13900000002")]
STAFF = [("T1", "CS", None, "13700000001")]


async def test_counsellor_figures_and_remind_all_are_of_students(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, STUDENTS)
    await add_people(app, STAFF, role="staff")
    await checkin(app, "T1")
    page = await (await c.get("/dashboard")).text()
    assert re.search(r"学生：<strong>0</strong> / 2 ", page)  # staff not among the students
    assert "教职工（另计）：1 / 1" in page
    missing = page.split('id="missing"')[1].split("</section>")[0]
    assert "S1" in missing and "T1" not in missing

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    await c.post("/dashboard/remind", data={"csrf_token": token, "all": "1"})
    await app[state.SERVICES].sms_sender.run_once()
    phones = {m["phone"] for m in sent_sms(app[state.DATADIR]) if "健康打卡" in m["body"]}
    assert phones == {"13900000001", "13900000002"}


async def test_the_automatic_reminder_calls_staff_老师(app: web.Application, login: Login) -> None:
    await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, STUDENTS)
    await add_people(app, STAFF, role="staff")
    clock = app[state.CLOCK]
    clock.advance(timedelta(hours=12).total_seconds())  # past the automatic reminder's time
    outcome = await app[state.SERVICES].reminders.run_auto()
    assert outcome is not None and len(outcome.reminded) == 3
    await app[state.SERVICES].sms_sender.run_once()
    bodies = {m["phone"]: m["body"] for m in sent_sms(app[state.DATADIR]) if "健康打卡" in m["body"]}
    assert "老师" in bodies["13700000001"] and "同学" not in bodies["13700000001"]
    assert "同学" in bodies["13900000001"]


async def test_the_not_yet_list_is_searchable_and_paged(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, [(f"S{i:03d}", "CS", f"CS-{i % 3}", None) for i in range(120)])
    page = await (await c.get("/dashboard")).text()
    missing = page.split('id="missing"')[1].split("</section>")[0]
    assert missing.count("<tr>") == 50 and "page=2" in missing
    page2 = (await (await c.get("/dashboard?page=3")).text()).split('id="missing"')[1].split("</section>")[0]
    assert page2.count("<tr>") == 20 and "page=4" not in page2
    found = (await (await c.get("/dashboard", params={"q": "S042"})).text()).split('id="missing"')[1]
    assert "S042" in found.split("</section>")[0] and "S041" not in found.split("</section>")[0]
    odd = await c.get("/dashboard", params={"q": "%_\\", "page": "x"})
    assert odd.status == 200
