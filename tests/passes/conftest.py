"""Fixtures for pass tests: the server fixtures (real data dir, FakeClock, loopback app) plus
helpers that play the workflow's part through the person-events contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.events import EventKind, PersonEvent
from server.storage.people import People, Person
from server.web import state
from shared.campus_time import checkin_day
from tests.server import conftest as server_fixtures
from tests.server.conftest import activate, add_person

# the server tests' fixtures, shared: real data directory, FakeClock, app on a loopback server
clock = server_fixtures.clock
datadir = server_fixtures.datadir
app = server_fixtures.app
client = server_fixtures.client

PASSWORD = "correct-horse-9"


async def person(app: web.Application, number: str) -> Person:
    """The stored person ``number``."""
    p = await People(app[state.DB]).by_number(number)
    assert p is not None, number
    return p


async def publish(app: web.Application, kind: EventKind, number: str, *, actor: str | None = None,
                  at: datetime | None = None, **detail: Any) -> None:
    """Publish a workflow event for ``number`` now (as the check-in/application workflow does)."""
    p = await person(app, number)
    actor_id = (await person(app, actor)).id if actor else None
    await app[state.EVENTS].publish(PersonEvent(kind, p.id, at or app[state.CLOCK].now(), actor_id, detail))


async def checkin(app: web.Application, number: str, abnormal: bool = False) -> None:
    """Today's check-in of ``number`` (Asia/Shanghai day of the app clock)."""
    day = checkin_day(app[state.CLOCK].now()).isoformat()
    await publish(app, "checkin_submitted", number, actor=number, day=day, abnormal=abnormal,
                  same_as_yesterday=False)


async def login(client: TestClient, number: str, password: str = PASSWORD) -> None:
    """Switch the client's session to ``number``."""
    r = await client.post("/api/v1/auth/login", json={"username": number, "password": password})
    assert r.status == 200, await r.text()


async def people(client: TestClient) -> None:
    """A student s1 (CS), a student o1 (EE), a counsellor c1 (CS), a school admin a1; all activated."""
    app = client.server.app
    assert app is not None
    await add_person(app, "s1", name="Zhang San", department="CS")
    await add_person(app, "o1", name="Li Si", department="EE")
    await add_person(app, "c1", role="counsellor", name="Wang Counsellor", department="CS", departments=("CS",))
    await add_person(app, "a1", role="school_admin", name="Zhao Admin", department=None)
    for i, number in enumerate(("s1", "o1", "c1", "a1")):
        await activate(client, number, phone=f"1380013800{i}")
