"""Every route declares who may use it: students are kept out of admin routes, counsellors see
only their own departments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient

from tests.server.conftest import activate, add_person


async def test_student_denied_admin_routes(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S1")
    await add_person(app, "S2")
    await activate(client, "S1")
    for method, path in (("GET", "/api/v1/admin/sms"), ("GET", "/api/v1/admin/audit"),
                         ("GET", "/api/v1/people"), ("GET", "/api/v1/people/S2"),
                         ("POST", "/api/v1/admin/people/S2/reset-password")):
        r = await client.request(method, path, json={} if method == "POST" else None)
        assert r.status == 403, path
        assert (await r.json())["error"]["code"] == "forbidden"


async def test_counsellor_sees_only_own_departments(
    aiohttp_client: Callable[..., Awaitable[TestClient]], client: TestClient
) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "C1", role="counsellor", department="CS", departments=("CS", "MATH"))
    await add_person(app, "S-CS", department="CS")
    await add_person(app, "S-MATH", department="MATH")
    await add_person(app, "S-EE", department="EE")
    await activate(client, "C1")

    r = await client.get("/api/v1/people/S-CS")
    assert r.status == 200 and (await r.json())["number"] == "S-CS"
    r = await client.get("/api/v1/people/S-MATH")
    assert r.status == 200
    r = await client.get("/api/v1/people/S-EE")
    assert r.status == 403
    body = await r.json()
    assert body["error"]["code"] == "department_scope" and "S-EE" not in body["error"]["message"]
    r = await client.get("/api/v1/people/does-not-exist")
    assert r.status == 403 and (await r.json())["error"]["code"] == "department_scope"
    r = await client.get("/api/v1/people", params={"department": "EE"})
    assert r.status == 403
    r = await client.get("/api/v1/people")
    numbers = {p["number"] for p in (await r.json())["people"]}
    assert numbers == {"C1", "S-CS", "S-MATH"}
