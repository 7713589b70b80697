"""Check-in days and pass deadlines in Asia/Shanghai, at midnight, month end and year end."""

from __future__ import annotations

import time as _time
from datetime import UTC, date, datetime, time, timedelta

import pytest

from shared.campus_time import CAMPUS_TZ, checkin_day, next_checkin_deadline, parse_hhmm
from shared.clock import FakeClock


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CAMPUS_TZ)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        (cst(2026, 3, 14, 23, 59, 59), date(2026, 3, 14)),
        (cst(2026, 3, 15, 0, 0, 0), date(2026, 3, 15)),
        (cst(2026, 2, 28, 23, 59, 59), date(2026, 2, 28)),
        (cst(2026, 3, 1, 0, 0, 0), date(2026, 3, 1)),
        (cst(2026, 12, 31, 23, 59, 59), date(2026, 12, 31)),
        (cst(2027, 1, 1, 0, 0, 0), date(2027, 1, 1)),
        # 16:00 UTC is midnight in Shanghai: the UTC date is still the previous day
        (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), date(2027, 1, 1)),
        (datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC), date(2026, 12, 31)),
    ],
)
def test_checkin_day(instant: datetime, day: date) -> None:
    assert checkin_day(instant) == day


@pytest.mark.parametrize(
    ("issued", "deadline"),
    [
        (cst(2026, 5, 31, 23, 0), cst(2026, 6, 1, 12, 0)),  # month end, late evening
        (cst(2026, 6, 1, 7, 0), cst(2026, 6, 2, 12, 0)),  # morning: the next day's deadline
        (cst(2026, 12, 31, 23, 59, 59), cst(2027, 1, 1, 12, 0)),  # year end
        (cst(2027, 1, 1, 0, 0), cst(2027, 1, 2, 12, 0)),
        (cst(2028, 2, 28, 9, 0), cst(2028, 2, 29, 12, 0)),  # leap year
    ],
)
def test_next_checkin_deadline(issued: datetime, deadline: datetime) -> None:
    assert next_checkin_deadline(issued) == deadline


def test_pass_issued_at_23_is_valid_at_07_next_day_and_not_after_deadline() -> None:
    issued = cst(2026, 11, 29, 23, 0)
    until = next_checkin_deadline(issued)
    assert issued + timedelta(hours=8) < until  # 07:00 next day
    assert until == cst(2026, 11, 30, 12, 0)


def test_configurable_deadline() -> None:
    assert next_checkin_deadline(cst(2026, 1, 1, 8, 0), time(9, 30)) == cst(2026, 1, 2, 9, 30)


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Shanghai"])
def test_server_time_zone_does_not_matter(tz: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", tz)
    _time.tzset()
    try:
        clock = FakeClock(cst(2026, 3, 14, 23, 59, 59))
        assert checkin_day(clock.now()) == date(2026, 3, 14)
        clock.advance(1)
        assert checkin_day(clock.now()) == date(2026, 3, 15)
    finally:
        monkeypatch.delenv("TZ")
        _time.tzset()


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        checkin_day(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 1, 1))


@pytest.mark.parametrize("bad", ["12", "25:00", "12:60", "7:5", "ab:cd"])
def test_parse_hhmm_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_hhmm(bad)


def test_fake_clock_advances_wall_and_monotonic_and_can_step_wall_only() -> None:
    clock = FakeClock(cst(2026, 1, 1, 0, 0), monotonic_start=5.0)
    clock.advance(2.5)
    assert clock.monotonic() == 7.5
    assert clock.now() == cst(2026, 1, 1, 0, 0, 2) + timedelta(microseconds=500_000)
    clock.set_wall(datetime(1970, 1, 1, tzinfo=UTC))
    assert clock.monotonic() == 7.5
    with pytest.raises(ValueError):
        clock.advance(-1)
