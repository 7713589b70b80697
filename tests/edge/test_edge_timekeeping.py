"""Trusted time: the persisted floor, counting on with the monotonic clock, server resets."""

from __future__ import annotations

from datetime import UTC, datetime

from edge.timekeeping import TrustedTime
from shared.clock import FakeClock

from .helpers import T0, T0_S


class Floor:
    def __init__(self, s: int) -> None:
        self.time_floor_s = s


def test_a_clock_at_or_after_the_floor_is_trusted() -> None:
    clock = FakeClock(T0)
    t = TrustedTime(clock, Floor(T0_S - 100)).now()
    assert t.trusted and t.at == T0


def test_a_clock_before_the_floor_counts_on_from_the_floor() -> None:
    clock = FakeClock(datetime(1970, 1, 1, tzinfo=UTC), monotonic_start=5.0)
    trusted = TrustedTime(clock, Floor(T0_S))
    assert trusted.now().at.timestamp() == T0_S and not trusted.clock_trusted()
    clock.advance(90)
    t = trusted.now()
    assert (t.at.timestamp(), t.trusted) == (T0_S + 90, False)


def test_a_floor_reset_by_the_server_re_anchors() -> None:
    floor = Floor(T0_S + 10 * 365 * 86400)  # poisoned by a clock that once ran ten years ahead
    clock = FakeClock(T0)
    trusted = TrustedTime(clock, floor)
    assert not trusted.clock_trusted()
    floor.time_floor_s = T0_S - 5  # sync: reset_time_floor(server time)
    clock.advance(1)
    t = trusted.now()
    assert t.trusted and t.at.timestamp() == T0_S + 1
