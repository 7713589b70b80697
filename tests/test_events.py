"""The person event hub: order, isolation of failing subscribers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.events import PersonEvent, PersonEvents


async def test_subscribers_run_in_order_and_a_failure_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = PersonEvents()
    seen: list[str] = []

    async def first(e: PersonEvent) -> None:
        seen.append("first:" + e.kind)
        raise RuntimeError("boom")

    async def second(e: PersonEvent) -> None:
        seen.append("second:" + e.kind)

    hub.subscribe(first)
    hub.subscribe(second)
    await hub.publish(PersonEvent("arrived", 7, datetime(2026, 1, 1, tzinfo=UTC)))
    assert seen == ["first:arrived", "second:arrived"]
    assert "failed on arrived for person 7" in caplog.text
