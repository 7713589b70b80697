"""Admin password reset (audited, back to the initial password) and the audit log."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.storage.audit import AuditLog
from server.web import state
from tests.server.conftest import activate, add_person


async def test_admin_reset_returns_account_to_initial_state(client: TestClient, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    app = client.server.app
    assert app is not None
    await add_person(app, "A1", role="school_admin", department=None)
    await add_person(app, "S1", id_last6="24680X")
    student = await aiohttp_client(client.server)
    await activate(student, "S1", "24680X", new_password="student-pass-1")

    await activate(client, "A1")
    r = await client.post("/api/v1/admin/people/S1/reset-password", json={})
    assert r.status == 200
    r = await client.post("/api/v1/admin/people/nobody/reset-password", json={})
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"

    # The student's session ended; the initial password works again and must be changed.
    r = await student.get("/api/v1/me")
    assert r.status == 401
    r = await student.post("/api/v1/auth/login", json={"username": "S1", "password": "student-pass-1"})
    assert r.status == 401
    r = await student.post("/api/v1/auth/login", json={"username": "S1", "password": "24680x"})
    body = await r.json()
    assert r.status == 200 and body["must_change_password"] is True and body["must_bind_phone"] is False

    r = await client.get("/api/v1/admin/audit", params={"person": "S1"})
    entries = (await r.json())["entries"]
    assert entries[0]["action"] == "password_reset" and entries[0]["actor_number"] == "A1"
    assert entries[0]["address"] == "127.0.0.1"


async def test_forwarded_address_is_believed_only_from_trusted_proxies(aiohttp_client, datadir, clock) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    from server.app import create_app
    from server.config import load_server_config
    from server.passwords import FAST_TEST_PARAMS, PasswordHasher

    base = load_server_config(datadir.config_path)
    for trusted, expected in (([], "127.0.0.1"), (["127.0.0.1"], "203.0.113.7")):
        config = dataclasses.replace(base, auth=dataclasses.replace(base.auth, trusted_proxies=trusted))
        app = create_app(datadir, clock=clock, config=config, hasher=PasswordHasher(FAST_TEST_PARAMS),
                         run_sms_sender=False, run_jobs=False)
        client = await aiohttp_client(app)
        number = f"A{len(trusted)}"
        await add_person(app, number, role="school_admin", department=None)
        await add_person(app, f"S{number}")
        await activate(client, number)
        r = await client.post(f"/api/v1/admin/people/S{number}/reset-password", json={},
                              headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
        assert r.status == 200
        rows = await AuditLog(app[state.SERVICES].db).recent(action="password_reset")
        assert rows[0].address == expected
        await client.close()
