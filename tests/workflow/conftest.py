"""Fixtures for workflow tests: the server fixtures plus logged-in people and valid bodies."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.workflow.checkins import NORMAL_ANSWERS
from tests.server.conftest import START, activate, add_person, app, client, clock, datadir  # noqa: F401

Login = Callable[..., Awaitable[TestClient]]


@pytest.fixture(params=["UTC", "America/New_York"])
def server_tz(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the process time zone set to each value (restored afterwards)."""
    import os

    old = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.fixture
async def login(client: TestClient, app: web.Application) -> AsyncIterator[Login]:  # noqa: F811
    """``await login(number, role=..., department=..., departments=...)``: a client with its own
    cookie jar, on the one test server, logged in as a new, activated person."""
    phones = iter(range(13800000001, 13899999999))
    made: list[TestClient] = []

    async def make(number: str, *, role: str = "student", department: str | None = "CS",
                   departments: tuple[str, ...] = (), name: str = "") -> TestClient:
        c: TestClient = TestClient(client.server)
        await c.start_server()  # already running: only opens this client's session
        made.append(c)
        await add_person(app, number, role=role, department=department, departments=departments, name=name)
        await activate(c, number, phone=str(next(phones)))
        return c

    yield make
    for c in made:
        await c.session.close()


def checkin_body(**overrides: Any) -> dict[str, Any]:
    """A normal check-in from another province."""
    body: dict[str, Any] = {**NORMAL_ANSWERS, "location_kind": "other_province", "region_code": "420102",
                            "remarks": ""}
    body.update(overrides)
    return body


def application_body(planned: str = "2026-03-05", **overrides: Any) -> dict[str, Any]:
    """A complete return application with the four confirmations."""
    body: dict[str, Any] = {
        "planned_return_date": planned, "departure_region_code": "420102",
        "itinerary": [{"mode": "rail", "service_no": "G1234", "from_region_code": "420102",
                       "to_region_code": "110108", "depart_at": f"{planned}T08:00", "arrive_at": f"{planned}T12:30"}],
        "reason": "开学返校",
        "confirmations": {"no_risk_area": True, "no_case_contact": True, "no_symptoms": True, "not_quarantined": True},
    }
    body.update(overrides)
    return body
