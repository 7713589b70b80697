"""Forms that keep what a person typed: a lapsed session, a stale tab, an unticked confirmation."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, Response

from server.workflow.checkins import YES_NO_QUESTIONS
from tests.browser.conftest import LiveServer, Shots
from tests.browser.helpers import (
    NEW_PASSWORD,
    first_login,
    login,
    no_horizontal_scroll,
    no_raw_codes,
    student,
)

FIFTEEN_DAYS_S = 15 * 86400  # sessions last 14 days after their last use


def fill_checkin(page: Page, temperature: str, remarks: str) -> None:
    page.locator("input[name=location_kind][value=on_campus]").check()
    page.fill("input[name=temperature_c]", temperature)
    page.locator("input[name=symptoms][value=none]").check()
    for question in YES_NO_QUESTIONS:
        page.locator(f"input[name={question}][value=no]").check()
    page.fill("textarea[name=remarks]", remarks)
    page.locator("input[name=attest]").check()


def test_a_session_that_lapses_while_filling_in_keeps_the_answers(page: Page, live: LiveServer, shots: Shots,
                                                                  phone: Callable[[], Page]) -> None:
    me = student(live, 3)
    first_login(page, live, me, "13900000021")
    page.goto(f"{live.url}/checkin")
    fill_checkin(page, "36.8", "在宿舍自习")
    live.clock.advance(FIFTEEN_DAYS_S)  # the phone sat in a pocket: the session lapsed
    page.click("form[action='/checkin'] button[type=submit]")
    assert "/login" in page.url
    assert "登录已过期" in page.inner_text("main") and "已保留" in page.inner_text("main")
    shots(page, "login-after-lapse")
    page.fill("input[name=username]", str(me["number"]))
    page.fill("input[name=password]", NEW_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    assert page.url.split("?")[0].endswith("/checkin")
    assert "登录过期前填写的内容" in page.inner_text("main")
    assert page.locator("input[name=temperature_c]").input_value() == "36.8"
    assert page.locator("textarea[name=remarks]").input_value() == "在宿舍自习"
    assert page.locator("input[name=risk_area_14d][value=no]").is_checked()
    assert page.locator("input[name=location_kind][value=on_campus]").is_checked()
    shots(page, "answers-back")
    no_horizontal_scroll(page)
    no_raw_codes(page)
    # The draft was handed back once: a reload shows the saved form, not the draft again.
    assert not any(c["name"] == "cp_draft" for c in page.context.cookies())

    # On a shared phone, the next person never sees someone else's draft.
    other = phone()
    first_login(other, live, student(live, 4), "13900000022")
    other.goto(f"{live.url}/checkin")
    fill_checkin(other, "36.9", "别人的备注")
    other.context.clear_cookies()  # the session is gone; the draft is kept for its owner only
    other.click("form[action='/checkin'] button[type=submit]")
    assert "/login" in other.url and any(c["name"] == "cp_draft" for c in other.context.cookies())
    first_login(other, live, student(live, 7), "13900000025")  # someone else on the same phone
    other.goto(f"{live.url}/checkin")
    assert other.locator("textarea[name=remarks]").input_value() != "别人的备注"


def test_a_stale_tab_keeps_the_answers(page: Page, live: LiveServer, shots: Shots) -> None:
    me = student(live, 5)
    first_login(page, live, me, "13900000023")
    page.goto(f"{live.url}/checkin")
    fill_checkin(page, "36.6", "旧标签页")
    # Logging in again elsewhere in this browser starts a new session: this tab's form is stale.
    side = page.context.new_page()
    login(side, live, str(me["number"]), NEW_PASSWORD)
    side.close()
    page.click("form[action='/checkin'] button[type=submit]")
    assert page.url.split("?")[0].endswith("/checkin")
    assert "页面已过期" in page.inner_text("main") and "已保留" in page.inner_text("main")
    assert page.locator("textarea[name=remarks]").input_value() == "旧标签页"
    shots(page, "stale-tab-kept")
    page.click("form[action='/checkin'] button[type=submit]")
    assert "打卡成功" in page.inner_text("main")


def test_an_unticked_confirmation_keeps_the_other_ticks_and_says_which(page: Page, live: LiveServer,
                                                                       shots: Shots) -> None:
    missing: list[str] = []

    def note(r: Response) -> None:
        if r.status == 404:
            missing.append(r.url)

    page.on("response", note)
    me = student(live, 6)
    first_login(page, live, me, "13900000024")
    page.goto(f"{live.url}/checkin")
    fill_checkin(page, "36.5", "")
    page.click("form[action='/checkin'] button[type=submit]")
    page.goto(f"{live.url}/apply")
    page.fill("input[name=planned_return_date]", page.locator("input[name=planned_return_date]").get_attribute("min") or "")
    page.locator(".region-picker").nth(0).locator("select").nth(0).select_option(label="北京市")
    page.locator(".region-picker").nth(0).locator("select").nth(1).select_option(label="海淀区")
    page.fill("input[name=leg0_service_no]", "G1")
    page.fill("textarea[name=reason]", "返校")
    boxes = page.locator("fieldset input[type=checkbox]")
    for i in (0, 1, 3):
        boxes.nth(i).check()
    page.click("form[action='/apply'] button[type=submit]")
    main = page.inner_text("main")
    assert main.index("申请返校") < main.index("以下承诺未勾选")
    assert "本人及共同居住人近 14 天内无发热" in page.locator("div.error").inner_text()
    assert "隔离" not in page.locator("div.error").inner_text()
    assert [boxes.nth(i).is_checked() for i in range(4)] == [True, True, False, True]
    shots(page, "unticked-confirmation")
    no_horizontal_scroll(page)
    no_raw_codes(page)
    assert missing == [], f"404s while using the pages: {missing}"
