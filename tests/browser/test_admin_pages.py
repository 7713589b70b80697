"""The admin pages at phone width in zh-CN, as the school admin and the system admin use them:
no sideways scroll, no raw code or ISO time on any page (audit actions, their details, roles and
states shown as words), the scan log's natural date filter, and the node pages."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page

from shared.campus_time import local
from tests.browser.conftest import LiveServer, Shots
from tests.browser.helpers import login, no_horizontal_scroll, no_raw_codes


def seen(page: Page, shots: Shots, step: str) -> str:
    """Check what every admin page must be and return its main text."""
    no_horizontal_scroll(page)
    no_raw_codes(page)
    shots(page, step)
    return page.inner_text("main")


def as_role(page: Page, live: LiveServer, role: str) -> Page:
    account = live.layout.account(role)
    login(page, live, str(account["number"]), str(account["password"]))
    return page


def test_school_admin_pages_speak_chinese_at_phone_width(page: Page, live: LiveServer, shots: Shots) -> None:
    admin = as_role(page, live, "school_admin")
    admin.goto(f"{live.url}/admin")
    seen(admin, shots, "admin-home")

    # Actions that write audit entries with details: a building and a group's rules.
    admin.goto(f"{live.url}/admin/buildings")
    seen(admin, shots, "buildings")
    admin.fill("form[action='/admin/buildings'] input[name=code]", "GYM")
    admin.fill("form[action='/admin/buildings'] input[name=name]", "体育馆")
    admin.click("form[action='/admin/buildings'] button[type=submit]")
    assert "体育馆" in seen(admin, shots, "building-added")

    admin.goto(f"{live.url}/admin/audit")
    text = seen(admin, shots, "audit")
    assert "新增楼栋" in text, "the building added is in the audit log, in words"
    assert "创建管理员" in text and "身份：系统管理员" in text, "the first admin, with its role in words"

    admin.goto(f"{live.url}/admin/sms")
    seen(admin, shots, "sms")

    # The scan log takes a date the way people type it.
    start = local(live.clock.now() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    admin.goto(f"{live.url}/admin/scans")
    seen(admin, shots, "scans")
    admin.fill("input[name=from]", start)
    admin.locator("form[action='/admin/scans'] button[type=submit]").click()
    assert admin.locator("input[name=from]").input_value() == start, "the filter is kept, not refused"
    seen(admin, shots, "scans-filtered")

    admin.goto(f"{live.url}/admin/nodes")
    seen(admin, shots, "nodes")
    admin.goto(f"{live.url}/admin/nodes/{live.layout.nodes[0].node_id}")
    seen(admin, shots, "node-sync-log")


def test_system_admin_enrolment_and_audit(page: Page, live: LiveServer, shots: Shots) -> None:
    admin = as_role(page, live, "system_admin")
    admin.goto(f"{live.url}/admin/enrolment")
    seen(admin, shots, "enrolment")
    form = admin.locator("form[action='/admin/enrolment']")
    form.locator("input[name=name]").fill("lib-east-2")
    form.locator("input[name=building]").fill(live.layout.nodes[0].building)
    form.locator("button[type=submit]").click()
    # the token's page holds a shell command (not checked for codes: it is one)
    no_horizontal_scroll(admin)
    shots(admin, "token-made")
    assert "--root-key=" in admin.inner_text("main")
    admin.goto(f"{live.url}/admin/audit")
    assert "创建入网令牌" in seen(admin, shots, "audit-system")
