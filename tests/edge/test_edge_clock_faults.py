"""Clock faults at the door: a wall clock stepped far ahead must neither deny valid passes nor
leave a poisoned trusted-time floor behind; server time repairs a floor poisoned before."""

from __future__ import annotations

from datetime import UTC, datetime

from gpiozero.pins.mock import MockFactory

from edge.config import NodeConfig
from edge.node import Node, open_store
from edge.timekeeping import TimeAnchor
from shared.clock import FakeClock

from .helpers import T0_S, Campus

YEAR_S = 365 * 86400


async def test_a_clock_stepped_a_year_ahead_after_a_sync_keeps_admitting_and_leaves_no_lockout(
        config: NodeConfig, campus: Campus) -> None:
    clock = FakeClock(datetime.fromtimestamp(T0_S, UTC), monotonic_start=50.0)
    store = await open_store(config)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock, boot_id="boot-1")
    try:
        await store.apply_server_time(TimeAnchor(T0_S, 50.0, "boot-1"), 0.0)  # the last sync
        floor_before = store.time_floor_s
        clock.advance(60)
        clock.set_wall(datetime.fromtimestamp(T0_S + 60 + YEAR_S, UTC))  # a bad NTP answer
        [j] = node.judge([campus.pass_text()], clock.monotonic())
        d = await node.commit(j)
        # Judged on server time + monotonic time: the pass is valid (the old node said "expired").
        assert (d.record.verdict, d.record.clock_trusted) == ("accept", False)
        assert abs(d.record.at_ms - (T0_S + 60) * 1000) < 1000
        assert store.time_floor_s == floor_before  # the future never reached the floor
        assert node.status()["clock"]["trusted"] is False
    finally:
        node.outputs.close()
        await store.close()
    # Restart after the clock is right again: nothing poisoned, valid passes open.
    store = await open_store(config)
    clock.set_wall(datetime.fromtimestamp(T0_S + 120, UTC))
    node = Node(config, store, pin_factory=MockFactory(), clock=clock, boot_id="boot-2")
    try:
        assert store.time_floor_s < T0_S + 3600
        [j] = node.judge([campus.pass_text()], clock.monotonic())
        d = await node.commit(j)
        assert (d.record.verdict, d.record.clock_trusted) == ("accept", True)
    finally:
        node.outputs.close()
        await store.close()


async def test_a_clock_ahead_before_any_sync_is_used_but_never_raises_the_floor(
        config: NodeConfig, campus: Campus) -> None:
    clock = FakeClock(datetime.fromtimestamp(T0_S + YEAR_S, UTC))  # wrong RTC at boot, no server yet
    store = await open_store(config)
    floor = store.time_floor_s
    node = Node(config, store, pin_factory=MockFactory(), clock=clock, boot_id="boot-1")
    try:
        [j] = node.judge([campus.pass_text()], clock.monotonic())
        d = await node.commit(j)
        assert d.record.reason == "expired"  # nothing says the clock is wrong yet
        assert store.time_floor_s == floor  # but it leaves nothing behind
    finally:
        node.outputs.close()
        await store.close()
    store = await open_store(config)
    try:
        assert store.time_floor_s == floor  # across a restart too
    finally:
        await store.close()


async def test_server_time_repairs_a_poisoned_floor(config: NodeConfig, campus: Campus) -> None:
    clock = FakeClock(datetime.fromtimestamp(T0_S, UTC), monotonic_start=10.0)
    store = await open_store(config)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock, boot_id="boot-1")
    try:
        await store.raise_time_floor(T0_S + YEAR_S)  # left by an older version's bad clock
        [j] = node.judge([campus.pass_text()], clock.monotonic())
        assert j.verdict.reason.value == "expired" and not j.when.trusted
        floor = await store.apply_server_time(TimeAnchor(T0_S + 1, clock.monotonic(), "boot-1"), 0.5)
        assert floor == T0_S + 1
        clock.advance(10)
        [j] = node.judge([campus.pass_text()], clock.monotonic())
        assert j.verdict.accepted and j.when.trusted and j.when.verified
        assert await store.clock_offset() == (0.5, T0_S + 1)
    finally:
        node.outputs.close()
        await store.close()
    store = await open_store(config)
    try:
        assert store.time_floor_s == T0_S + 1 and store.time_anchor == TimeAnchor(T0_S + 1, 10.0, "boot-1")
    finally:
        await store.close()
