"""Fixtures for server tests: a real data directory, a FakeClock, the app on a loopback server."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from provisioning.init import init_data_dir
from server.app import create_app
from server.datadir import DataDir
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.storage.people import NewPerson, People
from server.web import state
from shared.clock import FakeClock, to_unix
from tests.conftest import use_database

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Asia/Shanghai


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def datadir(tmp_path: Path, clock: FakeClock, database_url: str) -> DataDir:
    """A data directory on each backend (``database_url``: SQLite, then PostgreSQL)."""
    return use_database(init_data_dir(tmp_path / "data", clock, admin=None).datadir, database_url)


@pytest.fixture
def app(datadir: DataDir, clock: FakeClock) -> web.Application:
    return create_app(datadir, clock=clock, hasher=PasswordHasher(FAST_TEST_PARAMS), run_sms_sender=False, run_jobs=False)


@pytest.fixture
async def client(aiohttp_client: Callable[..., Awaitable[TestClient]], app: web.Application) -> TestClient:
    return await aiohttp_client(app)


async def add_person(app: web.Application, number: str, *, role: str = "student", department: str | None = "CS",
                     id_last6: str = "12345X", name: str = "", departments: tuple[str, ...] = ()) -> None:
    """Insert a person straight into storage (initial password = ``id_last6``)."""
    db = app[state.SERVICES].db
    phc = await app[state.HASHER].hash(id_last6.upper())
    async with db.transaction() as conn:
        for code in {*(departments or ()), *([department] if department else [])}:
            await People.upsert_department(conn, code, f"Dept {code}")
        await People.upsert(conn, NewPerson(number, name or f"Person {number}", role, department,  # type: ignore[arg-type]
                                            None, None, phc, secrets.token_bytes(8)),
                            to_unix(app[state.CLOCK].now()))
        if departments:
            await People.set_counsellor_departments(conn, number, departments)


def sent_sms(datadir: DataDir) -> list[dict[str, Any]]:
    """Messages the file gateway wrote."""
    path = datadir.sms_outbox_path
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def last_code(datadir: DataDir) -> str:
    """The 6-digit code of the last SMS delivered."""
    body = sent_sms(datadir)[-1]["body"]
    return next(word for word in body.replace("，", " ").split() if word.isdigit() and len(word) == 6)


async def activate(client: TestClient, number: str, id_last6: str = "12345X", *,
                   new_password: str = "correct-horse-9", phone: str = "13800138000") -> None:
    """Log in with the initial password and finish first-login setup through the API."""
    app = client.server.app
    assert app is not None
    r = await client.post("/api/v1/auth/login", json={"username": number, "password": id_last6})
    assert r.status == 200, await r.text()
    r = await client.post("/api/v1/auth/password", json={"old_password": id_last6, "new_password": new_password})
    assert r.status == 200, await r.text()
    r = await client.post("/api/v1/auth/phone/code", json={"phone": phone})
    assert r.status == 200, await r.text()
    await app[state.SERVICES].sms_sender.run_once()
    r = await client.post("/api/v1/auth/phone/verify", json={"phone": phone, "code": last_code(app[state.DATADIR])})
    assert r.status == 200, await r.text()


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


async def csrf(client: TestClient, path: str) -> str:
    """The CSRF token of the form on the page at ``path`` (as the logged-in ``client`` sees it)."""
    r = await client.get(path)
    assert r.status == 200, await r.text()
    m = CSRF_FIELD.search(await r.text())
    assert m is not None
    return m.group(1)
