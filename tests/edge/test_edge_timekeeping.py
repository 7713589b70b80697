"""Trusted time: the persisted floor, counting on with the monotonic clock, server resets."""

from __future__ import annotations

from datetime import UTC, datetime

from edge.timekeeping import TimeAnchor, TrustedTime
from shared.clock import FakeClock

from .helpers import T0, T0_S


class Floor:
    def __init__(self, s: int, anchor: TimeAnchor | None = None) -> None:
        self.time_floor_s = s
        self.time_anchor = anchor


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


YEAR_S = 365 * 86400


def test_a_clock_far_ahead_of_the_anchor_is_not_believed() -> None:
    clock = FakeClock(T0, monotonic_start=100.0)
    floor = Floor(T0_S - 600, TimeAnchor(T0_S, 100.0, "boot-a"))
    trusted = TrustedTime(clock, floor, "boot-a")
    t = trusted.now()
    assert (t.trusted, t.verified) == (True, True)
    clock.advance(3600)
    clock.set_wall(datetime.fromtimestamp(T0_S + YEAR_S, UTC))  # a bad NTP answer
    t = trusted.now()
    assert (t.trusted, t.verified) == (False, False)
    assert t.at.timestamp() == T0_S + 3600  # the anchor's estimate: server time + monotonic time
    clock.set_wall(datetime.fromtimestamp(T0_S - 3 * 86400, UTC))  # and far behind: not believed either
    assert trusted.now().at.timestamp() == T0_S + 3600 and not trusted.clock_trusted()


def test_the_drift_allowance_grows_with_time_since_the_sync() -> None:
    clock = FakeClock(T0, monotonic_start=0.0)
    trusted = TrustedTime(clock, Floor(T0_S - 600, TimeAnchor(T0_S, 0.0, "boot-a")), "boot-a")
    clock.advance(10 * 86400)  # ten days without a sync: 60 s + 500 ppm = 492 s allowed
    clock.set_wall(datetime.fromtimestamp(T0_S + 10 * 86400 + 400, UTC))
    assert trusted.now().verified
    clock.set_wall(datetime.fromtimestamp(T0_S + 10 * 86400 + 600, UTC))
    assert not trusted.now().trusted


def test_an_anchor_of_another_boot_is_ignored_and_an_unverified_clock_is_believed() -> None:
    clock = FakeClock(datetime.fromtimestamp(T0_S + YEAR_S, UTC), monotonic_start=5.0)
    trusted = TrustedTime(clock, Floor(T0_S, TimeAnchor(T0_S, 90_000.0, "boot-a")), "boot-b")
    assert trusted.anchor() is None
    t = trusted.now()  # nothing to check it against: used, but never verified (never raises the floor)
    assert (t.trusted, t.verified, t.at.timestamp()) == (True, False, T0_S + YEAR_S)
    assert TrustedTime(clock, Floor(T0_S, TimeAnchor(T0_S, 0.0, "")), "").anchor() is None
