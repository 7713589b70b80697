"""Typed application state keys (``request.app[DB]`` ...), set by :func:`server.app.create_app`.

``DB`` and the services built on it exist once the app has started (they are opened in a
``cleanup_ctx``); the others exist from creation.
"""

from __future__ import annotations

from aiohttp import web

from server.accounts import Accounts
from server.cas_login import CasClient
from server.config import ServerConfig
from server.datadir import DataDir
from server.jobs import JobRunner
from server.metrics import ServerMetrics
from server.pass_status import PassService
from server.passwords import PasswordHasher
from server.services import Services
from server.sms import SmsGateway, SmsSender
from server.storage import Database
from server.storage.sessions import SessionTouches
from server.web.catalogue import Catalogue
from shared.clock import Clock

CLOCK = web.AppKey("clock", Clock)
DATADIR = web.AppKey("datadir", DataDir)
CONFIG = web.AppKey("config", ServerConfig)
TEXTS = web.AppKey("texts", Catalogue)
"""The text catalogue of every language (:mod:`server.web.catalogue`), loaded once at creation."""
HASHER = web.AppKey("hasher", PasswordHasher)
SMS_GATEWAY = web.AppKey("sms_gateway", SmsGateway)
DB = web.AppKey("db", Database)
ACCOUNTS = web.AppKey("accounts", Accounts)
SMS_SENDER = web.AppKey("sms_sender", SmsSender)
SESSION_TOUCHES = web.AppKey("session_touches", SessionTouches)
"""Session touches batched in memory and flushed by a background task (built in a ``cleanup_ctx``)."""
SERVICES = web.AppKey("services", Services)
"""Every service of the app, built once when it starts (:func:`server.services.build_services`);
``DB``, ``ACCOUNTS``, ``SMS_SENDER``, ``SESSION_TOUCHES`` and ``PASS_SERVICE`` name the same objects."""
JOBS = web.AppKey("jobs", JobRunner)
"""The periodic jobs' runner (:func:`server.services.jobs`; empty when the app runs without jobs)."""
PASS_SERVICE = web.AppKey("pass_service", PassService)
"""Pass status, issuance and revocation (:mod:`server.pass_status`), built in a ``cleanup_ctx``."""
METRICS = web.AppKey("metrics", ServerMetrics)
"""The app's Prometheus metrics (:mod:`server.metrics`; exists from creation)."""
CAS = web.AppKey("cas", CasClient)
"""The CAS client (:mod:`server.cas_login`); present only when ``[auth.cas] enabled``."""
