"""One change of a person's state is one transaction: when applying the pass status fails half-way
through a school approval, nothing of the approval is kept (docs/architecture.md, "One unit of work")."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp import web

from server.app import create_app
from server.config import load_server_config
from server.datadir import DataDir
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.storage.people import People
from server.web import state
from shared.clock import FakeClock
from tests.server.conftest import sent_sms
from tests.workflow.conftest import Login, application_body, checkin_body


@pytest.fixture
def app(datadir: DataDir, clock: FakeClock) -> web.Application:
    """An app whose pass scope names no building group: a configuration ``server check-config``
    refuses at start, injected past it, so the pass status fails in the middle of the approval."""
    config = load_server_config(datadir.config_path)
    broken = replace(config, passes=replace(config.passes, campus_groups=[]))
    return create_app(datadir, clock=clock, config=broken, hasher=PasswordHasher(FAST_TEST_PARAMS),
                      run_sms_sender=False, run_jobs=False)


async def count(app: web.Application, sql: str, *params: object) -> int:
    row = await app[state.SERVICES].db.fetch_one(sql, params)
    assert row is not None
    return int(row[0])


async def test_failing_pass_status_rolls_back_the_school_approval(login: Login, app: web.Application) -> None:
    student = await login("S1")
    counsellor = await login("C1", role="counsellor", department="CS", departments=("CS",))
    admin = await login("A1", role="school_admin", department=None)
    r = await student.post("/api/v1/checkins/today", json=checkin_body())
    assert r.status == 200, await r.text()
    r = await student.post("/api/v1/return-applications", json=application_body(planned="2026-03-02"))
    assert r.status == 201, await r.text()
    app_id = (await r.json())["id"]
    r = await counsellor.post(f"/api/v1/return-applications/{app_id}/approve", json={})
    assert r.status == 200 and (await r.json())["state"] == "dept_approved"
    await app[state.SERVICES].sms_sender.run_once()
    sms_before = len(sent_sms(app[state.DATADIR]))
    s1 = await People(app[state.SERVICES].db).by_number("S1")
    assert s1 is not None

    r = await admin.post(f"/api/v1/return-applications/{app_id}/approve", json={})
    body = await r.json()
    assert r.status == 503 and body["error"]["code"] == "no_scope"
    assert "campus_groups" in body["error"]["message"]

    # nothing of the approval was kept
    r = await student.get(f"/api/v1/return-applications/{app_id}")
    data = await r.json()
    assert data["state"] == "dept_approved" and data["transitions"][-1]["to_state"] == "dept_approved"
    assert await count(app, "SELECT COUNT(*) FROM pass_status WHERE person_id = ?", s1.id) == 0
    assert await count(app, "SELECT COUNT(*) FROM pass_status_history WHERE person_id = ?", s1.id) == 0
    assert await count(app, "SELECT COUNT(*) FROM passes WHERE person_id = ?", s1.id) == 0
    assert await count(app, "SELECT COUNT(*) FROM sms_outbox WHERE purpose = 'application_approved'") == 0
    assert await count(app, "SELECT COUNT(*) FROM audit_log WHERE action = 'application_school_approve'") == 0
    await app[state.SERVICES].sms_sender.run_once()
    assert len(sent_sms(app[state.DATADIR])) == sms_before
    r = await student.get("/api/v1/pass")
    assert (await r.json())["status"] == "none"
