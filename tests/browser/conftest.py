"""Real-browser tests: Debian's chromium driven by Playwright against the server on loopback.

One small demo campus (:func:`campuspass.demo_setup.setup_demo`: 2 students per department,
cheap password hashing) is made per test module and served in-process on a free port from a
thread of its own, with a :class:`~shared.clock.FakeClock` the tests can move (sessions lapse,
days pass). Each test gets a fresh browser context at phone size (390 × 844, zh-CN) so cookies
never leak between tests.

Screenshots of each step go to ``build/browser-screenshots/<test>/`` (``CAMPUSPASS_SCREENSHOTS``
overrides the folder); the folder is printed at the end of the run so CI can keep it.

The browser is ``/usr/bin/chromium`` (``CAMPUSPASS_CHROMIUM`` overrides): Playwright's own
browser download is never used. ``./dev`` installs the apt package when it is missing.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from campuspass.demo_setup import DemoLayout, setup_demo
from campuspass.processes import free_port
from server.app import create_app
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.web import state
from shared.clock import FakeClock
from tests.conftest import REPO

T = TypeVar("T")

CHROMIUM = os.environ.get("CAMPUSPASS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
SHOTS = Path(os.environ.get("CAMPUSPASS_SCREENSHOTS", str(REPO / "build" / "browser-screenshots")))


class LiveServer:
    """The campuspass web app served from a background thread's event loop.

    Args:
        layout: a demo campus made by :func:`setup_demo`.
        clock: the app's clock (tests advance it).
    """

    def __init__(self, layout: DemoLayout, clock: FakeClock) -> None:
        self.layout = layout
        self.clock = clock
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.app = create_app(Path(layout.data_dir), clock=clock, hasher=PasswordHasher(FAST_TEST_PARAMS),
                              run_sms_sender=False, run_jobs=False)
        self._runner = web.AppRunner(self.app)
        self._thread = threading.Thread(target=self.loop.run_forever, name="live-server", daemon=True)

    def start(self) -> None:
        """Serve on ``127.0.0.1:port`` (returns once the socket listens)."""
        self._thread.start()
        self.run(self._runner.setup())
        self.run(web.TCPSite(self._runner, "127.0.0.1", self.port).start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's loop and return its result (30 s at most)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def send_sms(self) -> None:
        """Deliver the SMS outbox now (the file gateway writes ``sms-outbox.jsonl``)."""
        self.run(self.app[state.SERVICES].sms_sender.run_once())

    def stop(self) -> None:
        """Stop serving and close the loop."""
        self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def campus(tmp_path_factory: pytest.TempPathFactory) -> DemoLayout:
    """A small demo campus (8 students, 4 departments), made once per module.

    Made in a thread of its own: Playwright's sync API keeps an event loop running in this one.
    """
    made: list[DemoLayout] = []

    def make() -> None:
        made.append(setup_demo(tmp_path_factory.mktemp("campus") / "data", port=free_port(),
                               status_ports=(free_port(), free_port()), students_per_department=2,
                               hasher_params=FAST_TEST_PARAMS, sync=False))

    worker = threading.Thread(target=make)
    worker.start()
    worker.join()
    assert made, "the demo campus could not be made (see the traceback above)"
    return made[0]


@pytest.fixture(scope="module")
def live(campus: DemoLayout) -> Iterator[LiveServer]:
    """The campus's server on loopback, with a FakeClock at the real time of the run's start."""
    server = LiveServer(campus, FakeClock(datetime.now(UTC).replace(microsecond=0)))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    """Playwright, per module: its sync API keeps an asyncio loop running in this thread until
    it stops, which other test modules' ``asyncio.run`` would trip over."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Debian's chromium, headless; one per test module."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./dev test (it installs the chromium apt package)")
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile at phone size in zh-CN."""
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=1,
                              timezone_id="Asia/Shanghai")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Any]:
    """``phone()``: another person's page in a browser profile of its own (closed after the test)."""
    made: list[BrowserContext] = []

    def new_page() -> Page:
        ctx = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=1,
                                  timezone_id="Asia/Shanghai")
        ctx.set_default_timeout(10_000)
        made.append(ctx)
        return ctx.new_page()

    yield new_page
    for ctx in made:
        ctx.close()


@pytest.fixture
def browser_nojs_page(browser: Browser) -> Iterator[Page]:
    """A phone-size page with JavaScript turned off (the forms must work without it)."""
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN", java_script_enabled=False)
    ctx.set_default_timeout(10_000)
    yield ctx.new_page()
    ctx.close()


class Shots:
    """Numbered screenshots of one test's steps in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def __call__(self, page: Page, step: str, *, full_page: bool = True) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    """``shots(page, "step-name")`` saves a full-page PNG of this step."""
    folder = SHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Shots(folder)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SHOTS.exists() and any(SHOTS.iterdir()):
        terminalreporter.write_line(f"browser screenshots: {SHOTS}")
