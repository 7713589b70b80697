"""Holds in a real browser at phone size, in zh-CN: a student who edits a fever check-in back to
normal is told the hold stays and who clears it (and sees both answers); a counsellor looking at a
school admin's hold is told only a school admin clears it, and a stale clear form is refused in
words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page

from server.storage.people import People
from server.web import state
from server.workflow.checkins import YES_NO_QUESTIONS
from tests.browser.conftest import LiveServer, Shots
from tests.browser.helpers import first_login, login, no_horizontal_scroll, no_raw_codes, pick_region, student


def fill_checkin(page: Page, live: LiveServer, temperature: str, symptom: str) -> None:
    page.goto(f"{live.url}/checkin")
    page.locator("input[name=location_kind][value=other_province]").check()
    pick_region(page, 0, "whja", "湖北省 武汉市 江岸区")
    page.fill("input[name=temperature_c]", temperature)
    for box in page.locator("input[name=symptoms]").all():
        box.uncheck()
    page.locator(f"input[name=symptoms][value={symptom}]").check()
    for question in YES_NO_QUESTIONS:
        page.locator(f"input[name={question}][value=no]").check()
    page.locator("input[name=attest]").check()
    page.click("form[action='/checkin'] button[type=submit]")
    page.wait_for_load_state("load")


def make_green(live: LiveServer, who: dict[str, Any]) -> None:
    """The workflow's part of approval and arrival, played on the server (the story test walks
    it through the pages)."""
    async def run() -> None:
        app = live.app
        people = People(app[state.SERVICES].db)
        person = await people.by_number(str(who["number"]))
        counsellor = next(a for a in live.layout.accounts
                          if a["role"] == "counsellor" and a["department"] == who["department"])
        c = await people.by_number(str(counsellor["number"]))
        assert person is not None and c is not None
        service, now = app[state.SERVICES].passes, live.clock.now()
        async with app[state.SERVICES].db.transaction() as conn:
            await service.approved(conn, person.id, None, now)
            await service.arrived(conn, person.id, c.id, now, method="number")
    live.run(run())


def test_a_fever_edited_back_to_normal_keeps_the_hold_and_says_who_clears_it(page: Page, live: LiveServer,
                                                                            shots: Shots) -> None:
    me = student(live, 0)
    first_login(page, live, me, "13900000021")
    fill_checkin(page, live, "36.5", "none")
    make_green(live, me)
    page.goto(f"{live.url}/pass")
    assert "绿码" in page.inner_text("main")

    fill_checkin(page, live, "38.6", "fever")
    assert "今日情况异常，通行码已暂停" in page.inner_text("main")
    fill_checkin(page, live, "36.4", "none")
    main = page.inner_text("main")
    assert "修改打卡不能解除暂停，须由辅导员（或学校管理员）核实后解除" in main
    no_horizontal_scroll(page)
    no_raw_codes(page)
    shots(page, "home-hold-stays")

    page.goto(f"{live.url}/checkin")
    main = page.inner_text("main")
    assert "须由辅导员" in main and "修改前的回答" in main and "38.6 °C" in main and "36.4 °C" in main
    no_horizontal_scroll(page)
    no_raw_codes(page)
    shots(page, "checkin-both-answers")

    page.goto(f"{live.url}/pass")
    main = page.inner_text("main")
    assert "暂停通行" in main and "修改当天的打卡不能解除暂停" in main and page.locator(".pass-qr").count() == 0
    no_horizontal_scroll(page)
    no_raw_codes(page)
    shots(page, "pass-on-hold")


def test_a_counsellor_is_told_only_a_school_admin_clears_the_schools_hold(page: Page, phone: Callable[[], Page],
                                                                        live: LiveServer, shots: Shots) -> None:
    me = student(live, 1)
    first_login(page, live, me, "13900000022")
    fill_checkin(page, live, "36.5", "none")
    make_green(live, me)
    number = str(me["number"])

    # the counsellor holds the student; their page now offers to clear it
    counsellor = phone()
    account = next(a for a in live.layout.accounts if a["role"] == "counsellor" and a["department"] == me["department"])
    login(counsellor, live, str(account["number"]), str(account["password"]))
    counsellor.goto(f"{live.url}/passes?number={number}")
    counsellor.fill("form[action$='/hold'] input[name=reason]", "请来办公室一趟")
    counsellor.click("form[action$='/hold'] button")
    counsellor.wait_for_load_state("load")
    assert counsellor.locator("form[action$='/clear']").count() == 1
    assert "辅导员" in counsellor.inner_text("main")

    # meanwhile the school admin revokes the student's passes: the hold is the school's now
    school = phone()
    admin = live.layout.account("school_admin")
    login(school, live, str(admin["number"]), str(admin["password"]))
    school.goto(f"{live.url}/passes?number={number}")
    school.fill("form[action$='/revoke'] input[name=reason]", "市疾控通报密接")
    school.click("form[action$='/revoke'] button")
    school.wait_for_load_state("load")
    assert "学校管理员" in school.inner_text("main")

    # the counsellor's open page still has the clear form: refused, said in Chinese
    counsellor.fill("form[action$='/clear'] input[name=reason]", "已核实")
    counsellor.click("form[action$='/clear'] button")
    counsellor.wait_for_load_state("load")
    assert "此暂停由学校管理员设置，辅导员无权解除" in counsellor.inner_text("main")
    no_horizontal_scroll(counsellor)
    shots(counsellor, "counsellor-clear-refused")
    counsellor.goto(f"{live.url}/passes?number={number}")
    assert "只有学校管理员可以解除此暂停" in counsellor.inner_text("main")
    assert counsellor.locator("form[action$='/clear']").count() == 0
    text = counsellor.inner_text("main")
    assert "绿码 → 暂停通行（管理员暂停，辅导员）" in text, "the history in words"
    assert "院系\n计算机" in text, "the department by its name"
    no_raw_codes(counsellor)
    no_horizontal_scroll(counsellor)
    shots(counsellor, "counsellor-sees-school-hold")

    # the school admin clears it
    school.goto(f"{live.url}/passes?number={number}")
    school.fill("form[action$='/clear'] input[name=reason]", "核酸阴性")
    school.click("form[action$='/clear'] button")
    school.wait_for_load_state("load")
    assert "绿码" in school.inner_text("main")
