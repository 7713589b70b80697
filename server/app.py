"""The server's aiohttp application factory (the web composition root).

``create_app(datadir, clock=..., sms_gateway=...)`` builds the app: typed state
(:mod:`server.web.state`), the error middleware, the template engine, every feature's routes
(:data:`FEATURES`) and one ``cleanup_ctx`` that opens the database, builds every service once
(:func:`server.services.build_services`, held under ``app[state.SERVICES]``), logs the
reconciliation check, and runs the SMS sender and the periodic jobs (one
:class:`~server.jobs.JobRunner` on the injected clock). A new feature adds its ``Routes`` object to :data:`FEATURES`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from campuspass import __version__
from server.cas_login import CasClient
from server.config import ServerConfig, load_server_config
from server.datadir import DataDir
from server.jobs import JobRunner, stop_task
from server.metrics import ServerMetrics, make_metrics_middleware
from server.passwords import PasswordHasher
from server.services import build_services, housekeeping, jobs
from server.sms import FileGateway, HttpGateway, SmsGateway
from server.sms_providers import AliyunGateway, TencentGateway
from server.storage import open_database
from server.storage.leases import JobLeases
from server.web import (
    accounts,
    admin,
    applications,
    arrivals,
    buildings,
    checkins,
    dashboards,
    enrolment,
    exports,
    home,
    metrics,
    nodes,
    occupancy,
    passes,
    regions,
    rendering,
    review,
    state,
    tracing,
)
from server.web import headers as security_headers
from server.web.catalogue import Catalogue
from server.web.errors import make_error_middleware
from server.web.passes import log_reconciliation
from server.web.registry import PUBLIC, Routes, openapi_document
from server.workflow.checkins import YES_NO_QUESTIONS
from shared.clock import Clock, SystemClock, to_unix
from shared.errors import CampusPassError

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent

_meta = Routes(tag="meta")


@_meta.api("GET", "/api/v1/openapi.json", roles=PUBLIC, summary="This API's OpenAPI 3.1 document")
async def openapi(request: web.Request) -> web.Response:
    """Built from the route registry: every declared API route appears here."""
    doc = openapi_document(request.app[state.ROUTES], title="campuspass API", version=__version__)
    return web.json_response(doc)


FEATURES: tuple[Routes, ...] = (
    _meta, accounts.routes, home.routes, admin.routes, nodes.routes, enrolment.routes,
    checkins.routes, applications.routes, review.routes, passes.routes, arrivals.routes, buildings.routes,
    regions.routes, metrics.routes, dashboards.routes, exports.routes, tracing.routes, occupancy.routes)
"""Every resource module's routes (``server/web/<resource>.py``), registered in this order."""
HOME_CARDS: tuple[tuple[state.HomeSection, int], ...] = (
    (checkins.home_card, 20), (applications.home_card, 30), (dashboards.home_card, 35), (occupancy.home_card, 36),
    (review.home_card, 40), (arrivals.home_card, 45), (passes.home_card, 50))
"""The home page's card of each resource and its place (the university's guide's order: check-in
first, then the return application, the reviewers' and admins' cards, the pass last)."""


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
    run_jobs: bool = True,
) -> web.Application:
    """The web application for a data directory made by ``campuspass init``.

    Args:
        datadir: the data directory (or its path).
        clock: time source (default the system clock; tests pass a FakeClock).
        sms_gateway: SMS delivery (default from ``[sms]``: the file gateway).
        config: server configuration (default ``DATA/server.toml``).
        hasher: password hashing (default Argon2id with production parameters).
        run_sms_sender: run the background outbox sender (tests may drive
            ``app[state.SERVICES].sms_sender.run_once()`` by hand instead).
        run_jobs: run the periodic jobs (:func:`server.services.jobs`) on ``clock``; tests that
            advance a FakeClock may turn them off and call ``app[state.JOBS].run_once(name)``.

    Raises:
        DataDirError: the directory is not initialised.
        ConfigError: ``server.toml`` is invalid.
    """
    dd = datadir if isinstance(datadir, DataDir) else DataDir(Path(datadir))
    dd.require_initialised()
    clock = clock or SystemClock()
    config = config or load_server_config(dd.config_path)
    metrics = ServerMetrics()
    app = web.Application(middlewares=[make_metrics_middleware(metrics), make_error_middleware(rendering.render_error)],
                          client_max_size=24 * 1024 * 1024)
    app[state.METRICS] = metrics
    if config.auth.cas.enabled:
        app[state.CAS] = CasClient(config.auth.cas)
    app[state.CLOCK] = clock
    app[state.DATADIR] = dd
    app[state.CONFIG] = config
    app[state.TEXTS] = Catalogue.load()
    app[state.HASHER] = hasher or PasswordHasher()
    app[state.SMS_GATEWAY] = sms_gateway or sms_gateway_from_config(config, dd, clock)

    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    )
    app.router.add_static("/static/", HERE / "static", name="static")
    security_headers.install(app)
    app[state.ROUTES] = []
    for feature in FEATURES:
        feature.register(app)
    for card, order in HOME_CARDS:
        home.add_home_section(app, card, order)
    aiohttp_jinja2.get_env(app).globals["yes_no_questions"] = YES_NO_QUESTIONS
    app.cleanup_ctx.append(_services(run_sms_sender, run_jobs))
    return app


async def housekeeping_once(app: web.Application) -> tuple[int, int]:
    """One round of the account housekeeping job now (:func:`server.services.housekeeping`)."""
    return await housekeeping(app[state.SERVICES], app[state.CLOCK].now())


def _services(run_sms_sender: bool, run_jobs: bool):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        db = await open_database(app[state.CONFIG].database.url, app[state.DATADIR].db_path)
        services = build_services(db, app[state.DATADIR], app[state.CONFIG], app[state.CLOCK],
                                  app[state.SMS_GATEWAY], app[state.HASHER],
                                  on_sms_outcome=app[state.METRICS].observe_sms)
        app[state.SERVICES] = services
        await log_reconciliation(services.passes, app[state.CLOCK].now())
        leases, holder = JobLeases(db), f"{socket.gethostname()}:{os.getpid()}"

        async def lease(name: str, period: int, now: datetime) -> bool:
            return await leases.take(name, period, holder, to_unix(now))

        runner = JobRunner(jobs(services) if run_jobs else [], app[state.CLOCK], lease)
        app[state.JOBS] = runner
        sender = asyncio.create_task(services.sms_sender.run(), name="sms-sender") if run_sms_sender else None
        try:
            async with runner.running():
                yield
        finally:
            if sender is not None:
                await stop_task(sender)
            with contextlib.suppress(CampusPassError):
                await services.session_touches.flush()  # touches remembered since the last round
            await app[state.SMS_GATEWAY].close()
            if state.CAS in app:
                await app[state.CAS].close()
            await db.close()

    return ctx
