"""The daily check-in form on a phone: answers visibly ticked beside their labels."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import LiveServer, Shots
from tests.browser.helpers import (
    assert_beside_its_label,
    checked_label,
    first_login,
    no_horizontal_scroll,
    student,
)


def test_radios_and_checkboxes_sit_beside_their_labels_and_show_the_choice(page: Page, live: LiveServer,
                                                                           shots: Shots) -> None:
    first_login(page, live, student(live, 0), "13900000001")
    page.goto(f"{live.url}/checkin")
    assert page.title() == "每日健康打卡"  # the tab shows the page's name, nothing of its markup
    shots(page, "checkin-form")
    no_horizontal_scroll(page)
    controls = page.locator("form[action='/checkin'] input[type=radio], form[action='/checkin'] input[type=checkbox]")
    assert controls.count() >= 12
    for i in range(controls.count()):
        assert_beside_its_label(controls.nth(i))

    page.get_by_label("否").first.check()
    page.locator("input[name=risk_area_14d][value=no]").check()
    assert checked_label(page, "case_contact_14d") == "否"
    assert checked_label(page, "risk_area_14d") == "否"
    # The ticked "no" is drawn beside 否, and the "yes" beside 是 stays empty.
    yes = page.locator("input[name=case_contact_14d][value=yes]")
    no = page.locator("input[name=case_contact_14d][value=no]")
    assert no.is_checked() and not yes.is_checked()
    nb, yb = no.bounding_box(), yes.bounding_box()
    assert nb is not None and yb is not None
    assert abs(nb["y"] - yb["y"]) < 4 and nb["x"] < yb["x"], "否 and 是 side by side, 否 first"
    shots(page, "answers-ticked")
