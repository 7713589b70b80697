"""Every typed application state key (``request.app[SERVICES]`` ...), in one place; set by
:func:`server.app.create_app`.

``SERVICES`` (every service built on the database: :class:`server.services.Services`, whose
``db``, ``accounts``, ``sms_sender``, ``session_touches``, ``passes``, ``checkins``,
``applications``, ``arrivals``, ``reminders`` and ``figures`` the handlers use) and ``JOBS`` exist
once the app has started (they are built in a ``cleanup_ctx``); the others exist from creation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.cas_login import CasClient
from server.config import ServerConfig
from server.datadir import DataDir
from server.jobs import JobRunner
from server.metrics import ServerMetrics
from server.passwords import PasswordHasher
from server.services import Services
from server.sms import SmsGateway
from server.web.catalogue import Catalogue
from shared.clock import Clock

CLOCK = web.AppKey("clock", Clock)
DATADIR = web.AppKey("datadir", DataDir)
CONFIG = web.AppKey("config", ServerConfig)
TEXTS = web.AppKey("texts", Catalogue)
"""The text catalogue of every language (:mod:`server.web.catalogue`), loaded once at creation."""
HASHER = web.AppKey("hasher", PasswordHasher)
SMS_GATEWAY = web.AppKey("sms_gateway", SmsGateway)
SERVICES = web.AppKey("services", Services)
"""Every service of the app, built once when it starts (:func:`server.services.build_services`)."""
JOBS = web.AppKey("jobs", JobRunner)
"""The periodic jobs' runner (:func:`server.services.jobs`; empty when the app runs without jobs)."""
METRICS = web.AppKey("metrics", ServerMetrics)
"""The app's Prometheus metrics (:mod:`server.metrics`; exists from creation)."""
CAS = web.AppKey("cas", CasClient)
"""The CAS client (:mod:`server.cas_login`); present only when ``[auth.cas] enabled``."""
ROUTES = web.AppKey("route_specs", list)
"""Every registered route (``list[server.web.registry.RouteSpec]``), for the OpenAPI document."""

HomeSection = Callable[[web.Request], Awaitable[tuple[str, dict[str, Any]] | None]]
"""A feature's home-page card: ``(template, context)``, or None when it has nothing for this user."""
HOME_SECTIONS = web.AppKey("home_sections", list)
"""The home page's cards (``list[tuple[int, HomeSection]]``, shown by order)."""
