"""What a person sees, as assertions: layout at phone width, radio state, no raw codes."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Locator, Page

from server.web import state
from tests.browser.conftest import LiveServer

NEW_PASSWORD = "bright-lantern-42"

#: snake_case identifiers (``not_cleared``, ``login_slowed``) and ISO instants (``2026-12-05T08:00``):
#: catalogue keys or storage values that leaked onto a page instead of their text.
RAW_CODE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b|\d{4}-\d\d-\d\dT\d\d:\d\d")


def no_horizontal_scroll(page: Page) -> None:
    """The page is no wider than the viewport (nothing to scroll sideways)."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url}: page is {widths[0]} px wide in a {widths[1]} px viewport"


def no_raw_codes(page: Page) -> None:
    """No snake_case code or ISO timestamp in the visible text, and no English words on a
    Chinese page outside names, numbers and the language switch."""
    text = page.inner_text("body")
    found = RAW_CODE.findall(text)
    assert not found, f"{page.url}: raw codes on the page: {found[:10]}"


def label_text_box(choice: Locator) -> dict[str, float]:
    """The bounding box of the text of ``choice``'s label (not of the label element)."""
    box: dict[str, float] = choice.evaluate("""input => {
        const label = input.closest('label');
        const range = document.createRange();
        range.setStartAfter(input); range.setEndAfter(label.lastChild);
        const r = range.getBoundingClientRect();
        return {x: r.x, y: r.y, width: r.width, height: r.height};
    }""")
    return box


def assert_beside_its_label(choice: Locator) -> None:
    """``choice`` (a radio or checkbox) sits on the line of its label's text, just left of it."""
    b = choice.bounding_box()
    t = label_text_box(choice)
    assert b is not None
    centre = b["y"] + b["height"] / 2
    assert t["y"] <= centre <= t["y"] + t["height"], f"control centre {centre} not on the label's line {t}"
    assert b["x"] + b["width"] <= t["x"] + 1, f"control {b} is not left of its label text {t}"
    assert t["x"] - (b["x"] + b["width"]) < 40, f"control {b} is far from its label text {t}"


def checked_label(page: Page, name: str) -> str:
    """The label text of the checked radio of group ``name`` ('' when none is checked)."""
    return str(page.evaluate("""name => {
        const r = document.querySelector(`input[type=radio][name="${name}"]:checked`);
        return r ? r.closest('label').innerText.trim() : '';
    }""", name))


def student(live: LiveServer, index: int = 0) -> dict[str, Any]:
    """The ``index``-th demo student (first-login state until :func:`first_login`)."""
    students = [a for a in live.layout.accounts if a["role"] == "student"]
    return students[index]


def login(page: Page, live: LiveServer, number: str, password: str, next_path: str = "/") -> None:
    page.goto(f"{live.url}/login?next={next_path}")
    page.fill("input[name=username]", number)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit]")
    # Let the navigation the submit started finish: chromium can hang forever in Page.close()
    # when a page is closed in the middle of it (seen in the stale-tab test).
    page.wait_for_load_state("load")


def first_login(page: Page, live: LiveServer, who: dict[str, Any], phone: str) -> None:
    """Log in with the initial password, set a new one and bind ``phone`` with its SMS code."""
    login(page, live, str(who["number"]), str(who["password"]))
    page.fill("input[name=old_password]", str(who["password"]))
    page.fill("input[name=new_password]", NEW_PASSWORD)
    page.fill("input[name=repeat_password]", NEW_PASSWORD)
    page.click("form[action='/setup/password'] button")
    page.fill("input[name=phone]", phone)
    page.click("form[action='/setup/phone/code'] button")
    live.send_sms()
    page.fill("input[name=code]", last_code(live, phone))
    page.click("form[action='/setup/phone/verify'] button")


def last_code(live: LiveServer, phone: str) -> str:
    """The 6-digit code of the last SMS sent to ``phone``."""
    path = live.app[state.DATADIR].sms_outbox_path
    bodies = [json.loads(x)["body"] for x in path.read_text(encoding="utf-8").splitlines()
              if x.strip() and json.loads(x).get("phone") == phone]
    return re.findall(r"(?<!\d)\d{6}(?!\d)", bodies[-1])[0]



def pick_region(page: Page, index: int, query: str, full_name: str) -> None:
    """Choose a region in the ``index``-th picker of the page by searching ``query``."""
    picker = page.locator(".region-picker").nth(index)
    picker.locator(".region-search").fill(query)
    picker.locator(".region-hit", has_text=full_name).first.click()
    assert full_name in picker.locator(".region-chosen").inner_text()
