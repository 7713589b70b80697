"""The figures the dashboards show, assembled from storage (issue 9; docs/dashboards.md).

Day boundaries are Asia/Shanghai (:mod:`shared.campus_time`); storage groups times by UTC hour
and this module maps the hours to local days and hours (China has a whole-hour offset and no
daylight saving, so an hour bucket never straddles a local day).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from server.storage import Database
from server.storage.dashboard import DashboardStore, DayStat
from server.storage.pass_status import PassStatusStore
from shared.campus_time import checkin_day, day_start, local
from shared.clock import Clock, to_unix

DEFAULT_DAYS = 14
"""Days shown in the campus trend (today and the 13 before)."""

MAX_RANGE_DAYS = 92
"""Longest day range a statistics or export request may ask for."""

FIGURES_MAX_AGE_S = 60.0
"""Campus figures are recomputed when older than this (seconds); the school page says when."""

APPLICATION_STATES: tuple[str, ...] = ("submitted", "dept_approved", "approved", "arrived", "dept_rejected",
                                       "school_rejected", "withdrawn", "expired", "revoked")
PASS_STATUSES: tuple[str, ...] = ("none", "black", "green", "hold")


@dataclass(frozen=True, slots=True)
class DayTotal:
    """Campus (or the caller's departments) totals of one day."""

    day: date
    expected: int
    done: int
    abnormal: int

    @property
    def rate(self) -> float:
        """Share of the expected who checked in (0.0–1.0; 0.0 when nobody is expected)."""
        return self.done / self.expected if self.expected else 0.0


@dataclass(frozen=True, slots=True)
class CampusFigures:
    """What the school home shows.

    Attributes:
        today: the current check-in day.
        by_department: today's figures per department.
        days: totals per day, oldest first (``DEFAULT_DAYS`` days ending today).
        daily: the per-day, per-department rows behind ``days``.
        applications: ``{state: count}`` for every state of :data:`APPLICATION_STATES`.
        arrivals: ``[(day, count)]`` over the same days.
        passes: ``{status: people}`` for every status of :data:`PASS_STATUSES`.
        scans: ``{building: [scans in local hour 0..23 today]}``.
        scans_accepted: ``{building: accepted scans today}``.
        buildings: ``{code: name}``.
    """

    today: date
    by_department: list[DayStat]
    days: list[DayTotal]
    daily: list[DayStat]
    applications: dict[str, int]
    arrivals: list[tuple[date, int]]
    passes: dict[str, int]
    scans: dict[str, list[int]]
    scans_accepted: dict[str, int]
    buildings: dict[str, str]
    computed_at: datetime


def day_range(last: date, days: int = DEFAULT_DAYS) -> tuple[date, date]:
    """``(first, last)`` of the ``days`` days ending with ``last``."""
    return last - timedelta(days=days - 1), last


def totals(rows: Sequence[DayStat], first: date, last: date) -> list[DayTotal]:
    """Sum per-department rows into one :class:`DayTotal` per day from ``first`` to ``last``."""
    acc: dict[date, list[int]] = {first + timedelta(days=i): [0, 0, 0] for i in range((last - first).days + 1)}
    for r in rows:
        if r.day in acc:
            t = acc[r.day]
            t[0] += r.expected
            t[1] += r.done
            t[2] += r.abnormal
    return [DayTotal(d, *v) for d, v in acc.items()]


async def arrivals_per_day(store: DashboardStore, departments: Sequence[str] | None, first: date,
                           last: date) -> list[tuple[date, int]]:
    """Arrival confirmations per local day from ``first`` to ``last``."""
    first_s = to_unix(day_start(first))
    last_s = to_unix(day_start(last + timedelta(days=1)))
    per_hour = await store.arrivals_per_hour(departments, first_s, last_s)
    counts = {first + timedelta(days=i): 0 for i in range((last - first).days + 1)}
    for hour_s, n in per_hour.items():
        day = checkin_day(datetime.fromtimestamp(hour_s, UTC))
        if day in counts:
            counts[day] += n
    return list(counts.items())


async def campus_figures(db: Database, now: datetime, *, days: int = DEFAULT_DAYS) -> CampusFigures:
    """Every campus-wide figure of the school home for the day of ``now`` (admins only: no
    department filter).

    Args:
        db: the open database.
        now: the current instant (aware).
        days: length of the trend (days, ending today).
    """
    store = DashboardStore(db)
    today = checkin_day(now)
    first, last = day_range(today, days)
    daily = await store.daily(None, first, last, today=today, now_s=to_unix(now))
    by_department = [r for r in daily if r.day == today]
    apps = await store.applications_by_state(None)
    passes = await PassStatusStore(db).counts()
    start = day_start(today)
    start_ms = to_unix(start) * 1000
    per_hour = await store.scans_per_building_hour(start_ms, start_ms + 86_400_000)
    scans: dict[str, list[int]] = {}
    accepted: dict[str, int] = {}
    for (building, hour_s), (n, ok) in per_hour.items():
        hour = local(datetime.fromtimestamp(hour_s, UTC)).hour
        scans.setdefault(building, [0] * 24)[hour] += n
        accepted[building] = accepted.get(building, 0) + ok
    return CampusFigures(
        today=today, by_department=by_department, days=totals(daily, first, last), daily=daily,
        applications={s: apps.get(s, 0) for s in APPLICATION_STATES},
        arrivals=await arrivals_per_day(store, None, first, last),
        passes={s: passes.get(s, 0) for s in PASS_STATUSES},
        scans=dict(sorted(scans.items())), scans_accepted=accepted, buildings=await store.buildings(),
        computed_at=now,
    )


class CampusFiguresCache:
    """The campus figures, recomputed at most every ``max_age_s`` seconds (and at each new
    day): the school page and ``GET /api/v1/stats/campus`` are read by many admins at once and
    summarise the whole campus, so one computation serves them all. Concurrent callers wait
    for the one computation in progress.

    Args:
        db: the open database.
        clock: time source (``now`` for the figures, ``monotonic`` for their age).
        max_age_s: how old (seconds) figures may be before they are recomputed.
    """

    def __init__(self, db: Database, clock: Clock, max_age_s: float = FIGURES_MAX_AGE_S) -> None:
        self.db = db
        self.clock = clock
        self.max_age_s = max_age_s
        self._lock = asyncio.Lock()
        self._figures: CampusFigures | None = None
        self._at_mono = 0.0

    async def get(self) -> CampusFigures:
        """The current figures (at most ``max_age_s`` old, always of today)."""
        async with self._lock:
            now = self.clock.now()
            fresh = (self._figures is not None and self._figures.today == checkin_day(now)
                     and self.clock.monotonic() - self._at_mono < self.max_age_s)
            if not fresh:
                self._figures = await campus_figures(self.db, now)
                self._at_mono = self.clock.monotonic()
            assert self._figures is not None
            return self._figures


async def close_past_days(db: Database, now: datetime, *, days: int = DEFAULT_DAYS) -> None:
    """Compute and keep the figures of the closed days of the trend ending with the day of
    ``now`` that are not kept yet (a background job calls this so that the first visitor of
    the day does not wait for yesterday's figures)."""
    today = checkin_day(now)
    first, _ = day_range(today, days)
    await DashboardStore(db).daily(None, first, today - timedelta(days=1), today=today, now_s=to_unix(now))
