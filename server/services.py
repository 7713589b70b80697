"""The server's services, built once per app over one open database, and its background jobs.

:func:`build_services` is called by the app's composition root (:func:`server.app.create_app`,
in the ``cleanup_ctx`` that opens the database); the web layer reads them from one key
(``app[state.SERVICES]``) and never builds a service per request. :func:`jobs` declares every
periodic job as data (name, period, function) for the one :class:`~server.jobs.JobRunner`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from server.accounts import Accounts
from server.arrivals import Arrivals
from server.config import ServerConfig
from server.dashboards.figures import CampusFiguresCache, close_past_days
from server.dashboards.reminders import Reminders
from server.datadir import DataDir
from server.jobs import Job
from server.pass_status import PassService
from server.passwords import PasswordHasher
from server.presence.retention import purge_old_scans
from server.presence.scan_cache import BuildingScanCache
from server.sms import SmsGateway, SmsSender
from server.storage import Database
from server.storage.sessions import TOUCH_FLUSH_EVERY_S, Sessions, SessionTouches
from server.storage.sms import SmsOutboxStore
from server.storage.throttle import LoginThrottleStore
from server.workflow.applications import ReturnApplications
from server.workflow.checkins import CheckinService
from shared.clock import Clock, to_unix

SmsOutcome = Callable[[str, str], None]
"""``(provider, outcome)`` after each SMS gateway call (see :class:`server.sms.SmsSender`)."""

HOUSEKEEPING_EVERY_S = 600.0
"""How often expired sessions and forgotten login-failure counters are dropped (seconds)."""


@dataclass(frozen=True, slots=True)
class Services:
    """Every service of one server app, sharing one database, clock and configuration."""

    db: Database
    clock: Clock
    config: ServerConfig
    datadir: DataDir
    sms_sender: SmsSender
    accounts: Accounts
    session_touches: SessionTouches
    passes: PassService
    checkins: CheckinService
    applications: ReturnApplications
    arrivals: Arrivals
    reminders: Reminders
    figures: CampusFiguresCache
    occupancy_scans: BuildingScanCache


def build_services(db: Database, datadir: DataDir, config: ServerConfig, clock: Clock, gateway: SmsGateway,
                   hasher: PasswordHasher, *, on_sms_outcome: SmsOutcome | None = None) -> Services:
    """Build every service once (no I/O here: the database is already open).

    ``on_sms_outcome`` is told each delivery attempt's outcome (the app's metrics)."""
    sender = SmsSender(SmsOutboxStore(db), gateway, clock, max_attempts=config.sms.max_attempts,
                       on_outcome=on_sms_outcome)
    passes = PassService(db, datadir, config.passes, clock)
    return Services(
        db=db, clock=clock, config=config, datadir=datadir, sms_sender=sender,
        accounts=Accounts(db, clock, hasher, config, sms_wake=sender.wake),
        session_touches=SessionTouches(Sessions(db)),
        passes=passes,
        checkins=CheckinService(db, clock, config, passes, sms_wake=sender.wake),
        applications=ReturnApplications(db, clock, config, passes, sms_wake=sender.wake),
        arrivals=Arrivals(passes),
        reminders=Reminders(db, clock, config, sms_wake=sender.wake),
        figures=CampusFiguresCache(db, clock),
        occupancy_scans=BuildingScanCache(db),
    )


async def housekeeping(services: Services, now: datetime) -> tuple[int, int]:
    """Drop expired sessions and forgotten login-failure counters; returns how many of each."""
    now_s = to_unix(now)
    sessions = await Sessions(services.db).delete_expired(now_s)
    counters = await LoginThrottleStore(services.db).forget_before(now_s - services.config.auth.forget_after_s)
    return sessions, counters


async def expire_and_purge(services: Services, now: datetime) -> tuple[int, int]:
    """Expire overdue applications, then delete check-ins past their retention; returns how many of each."""
    expired = await services.applications.expire_due(now)
    purged = await services.checkins.purge_old(now)
    return len(expired), purged


def jobs(services: Services) -> list[Job]:
    """Every periodic job of the server (docs/architecture.md §12, "Jobs")."""
    c = services.config
    return [
        Job("missed-checkin-holds", max(1, c.passes.sweep_interval_s), services.passes.run_once),
        Job("application-expiry", max(1, c.workflow.expiry_interval_s), lambda now: expire_and_purge(services, now)),
        Job("checkin-reminders", max(1, c.reminders.check_interval_s), lambda _now: services.reminders.run_auto()),
        Job("dashboard-figures", max(1, c.reminders.check_interval_s),
            lambda now: close_past_days(services.db, now)),
        Job("scan-retention", c.presence.retention_interval_s,
            lambda _now: purge_old_scans(services.db, services.clock, c.presence)),
        Job("account-housekeeping", HOUSEKEEPING_EVERY_S, lambda now: housekeeping(services, now)),
        Job("session-touches", TOUCH_FLUSH_EVERY_S, lambda _now: services.session_touches.flush(), once=False),
    ]
