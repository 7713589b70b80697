"""The server's aiohttp application factory (the web composition root).

``create_app(datadir, clock=..., sms_gateway=...)`` builds the app: typed state
(:mod:`server.web.state`), the error middleware, the template engine, every feature's routes
(:data:`FEATURES`) and a ``cleanup_ctx`` that opens the database, builds the services and runs
the SMS sender. A new feature adds its ``Routes`` object to :data:`FEATURES`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from campuspass import __version__
from server.accounts import Accounts
from server.cas_login import CasClient
from server.config import ServerConfig, load_server_config
from server.datadir import DataDir
from server.metrics import ServerMetrics, make_metrics_middleware
from server.passwords import PasswordHasher
from server.sms import FileGateway, HttpGateway, SmsGateway, SmsSender
from server.sms_providers import AliyunGateway, TencentGateway
from server.storage import Database
from server.storage.sessions import Sessions, SessionTouches
from server.storage.sms import SmsOutboxStore
from server.storage.throttle import LoginThrottleStore
from server.web import admin as admin_api
from server.web import (
    admin_pages,
    auth_api,
    enrol_api,
    enrol_pages,
    metrics_api,
    nodes_api,
    nodes_pages,
    state,
)
from server.web import arrival_pages as arrival_pages
from server.web import building_pages as building_pages
from server.web import headers as security_headers
from server.web import pages as pages
from server.web import pass_pages as pass_pages
from server.web import region_pages as region_pages
from server.web.application_api import routes as application_routes
from server.web.application_pages import routes as application_page_routes
from server.web.application_setup import install_workflow
from server.web.checkin_api import routes as checkin_routes
from server.web.checkin_pages import routes as checkin_page_routes
from server.web.dashboard_setup import install_dashboards
from server.web.errors import make_error_middleware
from server.web.presence_setup import install_presence
from server.web.registry import PUBLIC, ROUTES_KEY, Routes, openapi_document
from server.web.review_api import routes as review_routes
from server.web.review_pages import routes as review_page_routes
from shared.clock import Clock, SystemClock, to_unix
from shared.errors import CampusPassError

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent

_meta = Routes(tag="meta")


@_meta.api("GET", "/api/v1/openapi.json", roles=PUBLIC, summary="This API's OpenAPI 3.1 document")
async def openapi(request: web.Request) -> web.Response:
    """Built from the route registry: every declared API route appears here."""
    doc = openapi_document(request.app[ROUTES_KEY], title="campuspass API", version=__version__)
    return web.json_response(doc)


FEATURES: tuple[Routes, ...] = (_meta, auth_api.routes, pages.routes, admin_api.routes, admin_pages.routes,
                                nodes_api.routes, nodes_pages.routes, enrol_api.routes, enrol_pages.routes,
                                checkin_routes, application_routes, review_routes,
                                checkin_page_routes, application_page_routes, review_page_routes,
                                pass_pages.routes, arrival_pages.routes, building_pages.routes, region_pages.routes,
                                metrics_api.routes)
"""Every feature module's routes, registered in this order."""


def sms_gateway_from_config(config: ServerConfig, datadir: DataDir, clock: Clock) -> SmsGateway:
    """The gateway ``[sms]`` names: the file gateway (default), the HTTP gateway, or a template
    provider (Alibaba Cloud, Tencent Cloud: :mod:`server.sms_providers`)."""
    if config.sms.gateway == "aliyun":
        return AliyunGateway(config.sms, clock)
    if config.sms.gateway == "tencent":
        return TencentGateway(config.sms, clock)
    if config.sms.gateway == "http":
        return HttpGateway(config.sms.url, token=config.sms.token, timeout_s=config.sms.timeout_s,
                           retries=config.sms.retries, backoff_s=config.sms.backoff_s)
    return FileGateway(datadir.sms_outbox_path, clock)


def create_app(
    datadir: DataDir | Path,
    *,
    clock: Clock | None = None,
    sms_gateway: SmsGateway | None = None,
    config: ServerConfig | None = None,
    hasher: PasswordHasher | None = None,
    run_sms_sender: bool = True,
) -> web.Application:
    """The web application for a data directory made by ``campuspass init``.

    Args:
        datadir: the data directory (or its path).
        clock: time source (default the system clock; tests pass a FakeClock).
        sms_gateway: SMS delivery (default from ``[sms]``: the file gateway).
        config: server configuration (default ``DATA/server.toml``).
        hasher: password hashing (default Argon2id with production parameters).
        run_sms_sender: run the background outbox sender (tests may drive
            ``app[state.SMS_SENDER].run_once()`` by hand instead).

    Raises:
        DataDirError: the directory is not initialised.
        ConfigError: ``server.toml`` is invalid.
    """
    dd = datadir if isinstance(datadir, DataDir) else DataDir(Path(datadir))
    dd.require_initialised()
    clock = clock or SystemClock()
    config = config or load_server_config(dd.config_path)
    metrics = ServerMetrics()
    app = web.Application(middlewares=[make_metrics_middleware(metrics), make_error_middleware(pages.render_error)],
                          client_max_size=24 * 1024 * 1024)
    app[state.METRICS] = metrics
    if config.auth.cas.enabled:
        app[state.CAS] = CasClient(config.auth.cas)
    app[state.CLOCK] = clock
    app[state.DATADIR] = dd
    app[state.CONFIG] = config
    app[state.HASHER] = hasher or PasswordHasher()
    app[state.SMS_GATEWAY] = sms_gateway or sms_gateway_from_config(config, dd, clock)

    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    )
    app.router.add_static("/static/", HERE / "static", name="static")
    security_headers.install(app)
    app[ROUTES_KEY] = []
    for feature in FEATURES:
        feature.register(app)
    app.cleanup_ctx.append(_services(run_sms_sender))
    pass_pages.install_passes(app)  # after _services: needs the database
    install_workflow(app)  # after _services: needs the database
    install_dashboards(app)  # after _services: needs the database
    install_presence(app)  # after _services: needs the database
    return app


HOUSEKEEPING_EVERY_S = 600.0


async def housekeeping_once(app: web.Application) -> tuple[int, int]:
    """Drop expired sessions and forgotten login-failure counters; returns how many of each."""
    now_s = to_unix(app[state.CLOCK].now())
    sessions = await Sessions(app[state.DB]).delete_expired(now_s)
    counters = await LoginThrottleStore(app[state.DB]).forget_before(now_s - app[state.CONFIG].auth.forget_after_s)
    return sessions, counters


async def _housekeeping(app: web.Application) -> None:
    while True:
        try:
            await housekeeping_once(app)
        except (CampusPassError, sqlite3.Error, ValueError) as exc:  # ValueError: aiosqlite's closed connection
            log.warning("account housekeeping: %s", exc)
        await asyncio.sleep(HOUSEKEEPING_EVERY_S)


def _services(run_sms_sender: bool):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        db = await Database.open(app[state.DATADIR].db_path)
        app[state.DB] = db
        sender = SmsSender(SmsOutboxStore(db), app[state.SMS_GATEWAY], app[state.CLOCK],
                           max_attempts=app[state.CONFIG].sms.max_attempts, on_outcome=app[state.METRICS].observe_sms)
        app[state.SMS_SENDER] = sender
        app[state.ACCOUNTS] = Accounts(db, app[state.CLOCK], app[state.HASHER], app[state.CONFIG],
                                       sms_wake=sender.wake)
        touches = app[state.SESSION_TOUCHES] = SessionTouches(Sessions(db))
        tasks = [asyncio.create_task(sender.run(), name="sms-sender")] if run_sms_sender else []
        tasks.append(asyncio.create_task(_housekeeping(app), name="account-housekeeping"))
        tasks.append(asyncio.create_task(touches.run(), name="session-touches"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(CampusPassError):
                await touches.flush()  # the task's own last flush may have been cut short
            await app[state.SMS_GATEWAY].close()
            if state.CAS in app:
                await app[state.CAS].close()
            await db.close()

    return ctx
