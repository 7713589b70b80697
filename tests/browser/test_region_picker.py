"""The region picker: province → city → county, search by name or pinyin initials, names shown."""

from __future__ import annotations

from playwright.sync_api import Page

from server.workflow.checkins import YES_NO_QUESTIONS
from tests.browser.conftest import LiveServer, Shots
from tests.browser.helpers import first_login, no_horizontal_scroll, student


def test_pick_a_county_by_pinyin_initials_and_by_the_three_lists(page: Page, live: LiveServer, shots: Shots) -> None:
    first_login(page, live, student(live, 1), "13900000002")
    page.goto(f"{live.url}/checkin")
    page.locator("label.choice", has_text="外省市").locator("input").check()
    search = page.locator(".region-search").first
    search.fill("whja")
    hit = page.locator(".region-hit", has_text="湖北省 武汉市 江岸区")
    hit.wait_for()
    shots(page, "search-hits")
    no_horizontal_scroll(page)
    hit.click()
    assert page.locator("input[name=region_code]").input_value() == "420102"
    assert "湖北省 武汉市 江岸区" in page.locator(".region-chosen").first.inner_text()

    # The same with the three lists: 北京市 has its districts directly under it.
    selects = page.locator(".region-picker").first.locator("select")
    selects.nth(0).select_option(label="北京市")
    selects.nth(1).select_option(label="海淀区")
    assert page.locator("input[name=region_code]").input_value() == "110108"
    assert not selects.nth(2).is_visible()
    selects.nth(0).select_option(label="广东省")
    selects.nth(1).select_option(label="深圳市")
    selects.nth(2).select_option(label="南山区")
    assert page.locator("input[name=region_code]").input_value() == "440305"
    shots(page, "chosen-by-lists")
    no_horizontal_scroll(page)


def test_without_javascript_a_typed_name_is_accepted(browser_nojs_page: Page, live: LiveServer) -> None:
    page = browser_nojs_page
    first_login(page, live, student(live, 2), "13900000003")
    page.goto(f"{live.url}/checkin")
    assert page.locator("input[name=region_code]").get_attribute("type") in (None, "text")
    page.locator("input[name=location_kind][value=other_province]").check()
    page.fill("input[name=region_code]", "海淀区")
    page.fill("input[name=temperature_c]", "36.5")
    page.locator("input[name=symptoms][value=none]").check()
    for question in YES_NO_QUESTIONS:
        page.locator(f"input[name={question}][value=no]").check()
    page.locator("input[name=attest]").check()
    page.click("form[action='/checkin'] button[type=submit]")
    page.goto(f"{live.url}/checkin")
    assert page.locator("input[name=region_code]").input_value() == "110108"


def test_regions_json_is_served_from_our_origin_and_cached(page: Page, live: LiveServer) -> None:
    r = page.request.get(f"{live.url}/regions.json")
    assert r.status == 200 and r.headers["cache-control"].startswith("public")
    doc = r.json()
    assert doc["standard"] == "GB/T 2260" and len(doc["divisions"]) > 3000
    again = page.request.get(f"{live.url}/regions.json", headers={"If-None-Match": r.headers["etag"]})
    assert again.status == 304
