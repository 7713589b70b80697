"""The guide's story in a real browser at phone size: a student from first login to a green
pass, the counsellor's review and arrival confirmation, the school admin's approval; in zh-CN,
then the same pages in English. Every page: no sideways scrolling, no raw codes on Chinese pages.

The screenshots of the check-in form, the review page and the pass page at 390 px in both
languages are the ones in docs/screenshots/ (``CAMPUSPASS_DOC_SCREENSHOTS=docs/screenshots``
writes them there).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page

from server.workflow.checkins import YES_NO_QUESTIONS
from shared.campus_time import checkin_day
from tests.browser.conftest import LiveServer, Shots
from tests.browser.helpers import (
    first_login,
    login,
    no_horizontal_scroll,
    no_raw_codes,
    pick_region,
    student,
)

DOC_SHOTS = os.environ.get("CAMPUSPASS_DOC_SCREENSHOTS")


def doc_shot(page: Page, name: str) -> None:
    """Save a docs screenshot (viewport only, small) when asked to."""
    if DOC_SHOTS:
        Path(DOC_SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(DOC_SHOTS) / f"{name}.png"), full_page=False)


def seen(page: Page, shots: Shots, step: str, *, chinese: bool = True) -> None:
    """What every page must be: no sideways scroll, no raw codes (Chinese pages); a screenshot."""
    no_horizontal_scroll(page)
    if chinese:
        no_raw_codes(page)
    shots(page, step)


def staff_login(page: Page, live: LiveServer, role: str) -> Page:
    account = live.layout.account(role)
    login(page, live, str(account["number"]), str(account["password"]))
    return page


def test_student_story_to_a_green_pass_with_review_and_arrival(page: Page, phone: Callable[[], Page],
                                                               live: LiveServer, shots: Shots) -> None:
    me = student(live, 0)
    first_login(page, live, me, "13900000011")
    assert page.url.rstrip("/").endswith(str(live.port)) or "/?" in page.url
    seen(page, shots, "home-first")

    # Check-in: in Wuhan today, normal.
    page.click("a[href='/checkin']")
    page.locator("input[name=location_kind][value=other_province]").check()
    pick_region(page, 0, "whja", "湖北省 武汉市 江岸区")
    page.fill("input[name=temperature_c]", "36.5")
    page.locator("input[name=symptoms][value=none]").check()
    for question in YES_NO_QUESTIONS:
        page.locator(f"input[name={question}][value=no]").check()
    page.locator("input[name=attest]").check()
    seen(page, shots, "checkin-filled")
    doc_shot(page, "checkin-zh")
    page.click("form[action='/checkin'] button[type=submit]")
    assert "打卡已提交" in page.inner_text("main") or "已打卡" in page.inner_text("main")
    seen(page, shots, "home-checked-in")

    # Return application.
    tomorrow = checkin_day(live.clock.now()) + timedelta(days=1)
    page.goto(f"{live.url}/apply")
    assert page.title() == "申请返校"
    page.fill("input[name=planned_return_date]", tomorrow.isoformat())
    pick_region(page, 0, "whja", "湖北省 武汉市 江岸区")
    page.select_option("select[name=leg0_mode]", "rail")
    page.fill("input[name=leg0_service_no]", "G512")
    pick_region(page, 1, "whja", "湖北省 武汉市 江岸区")
    pick_region(page, 2, "haidian", "北京市 海淀区")
    page.fill("input[name=leg0_depart_at]", f"{tomorrow.isoformat()}T08:00")
    page.fill("input[name=leg0_arrive_at]", f"{tomorrow.isoformat()}T12:30")
    page.fill("textarea[name=reason]", "开学返校")
    for box in page.locator("fieldset input[type=checkbox]").all():
        box.check()
    seen(page, shots, "application-filled")
    page.click("form[action='/apply'] button[type=submit]")
    assert "院系审核中" in page.inner_text("main") or "已提交" in page.inner_text("main")
    seen(page, shots, "home-applied")

    # The counsellor: the card says what there is to decide, with place names and local times.
    counsellor = staff_login(phone(), live, "counsellor")
    counsellor.goto(f"{live.url}/review")
    card = counsellor.locator(".review-card", has_text=str(me["number"]))
    text = card.inner_text()
    for expected in ("湖北省 武汉市 江岸区 → 北京市 海淀区", f"{tomorrow.isoformat()} 08:00", "本人目前未处于隔离或医学观察期",
                     "正常 · 36.5 °C"):
        assert expected in text, expected
    seen(counsellor, shots, "review-counsellor")
    doc_shot(counsellor, "review-zh")
    counsellor.click("button[form=batch]")  # nothing ticked
    assert "没有勾选任何申请" in counsellor.inner_text("main")
    card = counsellor.locator(".review-card", has_text=str(me["number"]))
    card.locator("form[action$='/approve'] button").click()
    assert "已通过 1 份申请。" in counsellor.inner_text("main")
    seen(counsellor, shots, "review-approved")

    # The school admin sees the department's decision on the card and approves.
    school = staff_login(phone(), live, "school_admin")
    school.goto(f"{live.url}/review?stage=school")
    card = school.locator(".review-card", has_text=str(me["number"]))
    assert "院系审核" in card.inner_text() and "院系已通过" in card.inner_text()
    card.locator("form[action$='/approve'] button").click()
    assert "已通过 1 份申请。" in school.inner_text("main")
    seen(school, shots, "review-school-approved")

    # Black pass, then the counsellor confirms the arrival from the list.
    page.goto(f"{live.url}/pass")
    assert "黑码" in page.inner_text("main") or "未确认到校" in page.inner_text("main")
    seen(page, shots, "pass-black")
    counsellor.goto(f"{live.url}/arrivals")
    counsellor.locator("ul.pending button", has_text=str(me["number"])).click()
    counsellor.locator("form[action='/arrivals/confirm'] button").click()
    assert str(me["name"]) in counsellor.inner_text("main"), "the confirmation names the student"
    seen(counsellor, shots, "arrival-confirmed")

    page.goto(f"{live.url}/pass")
    assert "绿码" in page.inner_text("main")
    assert page.locator(".pass-green svg, .pass-green img").count() == 1
    seen(page, shots, "pass-green")
    doc_shot(page, "pass-zh")

    # The same pages in English.
    page.click("header a[href^='/lang/en']")
    seen(page, shots, "pass-green-en", chinese=False)
    doc_shot(page, "pass-en")
    page.goto(f"{live.url}/checkin")
    assert "Daily health check-in" in page.inner_text("main")
    seen(page, shots, "checkin-en", chinese=False)
    doc_shot(page, "checkin-en")
    counsellor.goto(f"{live.url}/lang/en?next=/review%3Fstatus%3Darrived")
    text = counsellor.inner_text("main")
    assert "I am not in quarantine or under medical observation." in text
    seen(counsellor, shots, "review-en", chinese=False)
    doc_shot(counsellor, "review-en")
