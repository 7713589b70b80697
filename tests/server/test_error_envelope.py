"""One JSON error envelope for every /api/ route: malformed bodies get a 4xx, never a 500."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from server.web.registry import UNSAFE_METHODS
from server.web.state import ROUTES
from tests.server.conftest import activate, add_person

BAD_BODIES = [
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"text"', "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b'{"unexpected": 1}', "application/json"),
    (b'{"username": 5, "password": [], "old_password": null, "phone": {}, "code": 1, "new_password": 2}',
     "application/json"),
    (b"username=a&password=b", "application/x-www-form-urlencoded"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),  # nested deeper than the parser's stack
    (b'{"username": "\\ud800", "password": "\\udfff", "csv": "\\ud800", "reason": "\\ud800"}',
     "application/json"),  # lone surrogate escapes: not text, no column can store them
]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "X1", path)


def _check_envelope(status: int, body: object, where: str) -> None:
    assert 400 <= status < 500, where
    assert isinstance(body, dict) and set(body) == {"error"}, where
    err = body["error"]
    assert isinstance(err["code"], str) and err["code"] and isinstance(err["message"], str), where


async def test_every_api_route_refuses_malformed_bodies_with_the_envelope(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "A1", role="system_admin", department=None)
    specs = [s for s in app[ROUTES] if s.kind == "api" and s.method in UNSAFE_METHODS]
    assert len(specs) >= 6
    for logged_in in (False, True):
        if logged_in:
            await activate(client, "A1")
        for spec in specs:
            for raw, ctype in BAD_BODIES:
                if spec.body is None and ctype == "application/json" and raw.startswith(b"{\"") :
                    continue  # a well-formed object is a fine (ignored) body for body-less routes
                r = await client.request(spec.method, _concrete(spec.path), data=raw,
                                         headers={"Content-Type": ctype})
                where = f"{spec.method} {spec.path} {raw!r} logged_in={logged_in}"
                _check_envelope(r.status, await r.json(), where)


async def test_unknown_api_path_and_method_use_the_envelope(client: TestClient) -> None:
    r = await client.get("/api/v1/nope")
    assert r.status == 404
    assert (await r.json())["error"]["code"] == "not_found"
    r = await client.delete("/api/v1/me")
    assert r.status == 405
    assert (await r.json())["error"]["code"] == "method_not_allowed"


async def test_foreign_origin_is_refused(client: TestClient) -> None:
    r = await client.post("/api/v1/auth/login", json={"username": "x", "password": "y"},
                          headers={"Origin": "https://evil.example"})
    assert r.status == 403
    assert (await r.json())["error"]["code"] == "csrf_failed"


async def test_openapi_documents_every_api_route(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    r = await client.get("/api/v1/openapi.json")
    doc = await r.json()
    assert doc["openapi"].startswith("3.")
    for spec in app[ROUTES]:
        if spec.kind == "api":
            assert spec.method.lower() in doc["paths"][spec.path], spec.path
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/LoginBody"}
    assert doc["components"]["schemas"]["LoginBody"]["required"] == ["username", "password"]


async def test_every_api_route_answers_anonymous_callers_with_the_envelope(client: TestClient) -> None:
    from server.web.registry import PUBLIC

    app = client.server.app
    assert app is not None
    for spec in app[ROUTES]:
        if spec.kind != "api" or spec.roles == PUBLIC:
            continue
        r = await client.request(spec.method, _concrete(spec.path), json={} if spec.method in UNSAFE_METHODS else None)
        where = f"{spec.method} {spec.path}"
        _check_envelope(r.status, await r.json(), where)


async def test_oversized_fields_are_refused_cleanly(client: TestClient) -> None:
    r = await client.post("/api/v1/auth/login", json={"username": "x", "password": "p" * 10_000})
    assert r.status == 422 and (await r.json())["error"]["code"] == "invalid_field"
    r = await client.post("/api/v1/auth/login", data=b"{" + b" " * 300_000 + b"}",
                          headers={"Content-Type": "application/json"})
    assert r.status == 413 and (await r.json())["error"]["code"] == "body_too_large"


async def test_deep_nesting_and_lone_surrogates_are_malformed_json(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "A1", role="system_admin", department=None)
    cases = [
        ("/api/v1/auth/login", b"[" * 100_000 + b"]" * 100_000),
        ("/api/v1/auth/login", b'{"username": "\\ud800", "password": "x"}'),
    ]
    for path, raw in cases:
        r = await client.post(path, data=raw, headers={"Content-Type": "application/json"})
        assert r.status == 400, raw[:40]
        assert (await r.json())["error"]["code"] == "malformed_json"
    await activate(client, "A1")
    r = await client.post("/api/v1/admin/roster", data=b'{"csv": "number,name\\n\\udfff"}',
                          headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert (await r.json())["error"]["code"] == "malformed_json"
    # a proper surrogate pair is ordinary text (an emoji) and reaches the handler
    r = await client.post("/api/v1/auth/login", data=b'{"username": "\\ud83d\\ude00", "password": "x"}',
                          headers={"Content-Type": "application/json"})
    assert r.status == 401
    assert (await r.json())["error"]["code"] == "bad_credentials"


async def test_an_unparsable_origin_is_a_csrf_refusal_not_a_crash(client: TestClient) -> None:
    for origin in ("http://[::1", "http://[", "https://evil.example:99999999999"):
        r = await client.post("/api/v1/auth/login", json={"username": "x", "password": "y"},
                              headers={"Origin": origin})
        assert r.status == 403, origin
        assert (await r.json())["error"]["code"] == "csrf_failed"


async def test_openapi_keeps_same_named_dataclasses_of_different_modules_apart(client: TestClient) -> None:
    import dataclasses

    app = client.server.app
    assert app is not None
    r = await client.get("/api/v1/openapi.json")
    doc = await r.json()
    schemas = doc["components"]["schemas"]
    for spec in app[ROUTES]:
        if spec.kind != "api":
            continue
        op = doc["paths"][re.sub(r"\{([a-zA-Z_]\w*)(?::[^}]*)?\}", r"{\1}", spec.path)][spec.method.lower()]
        for cls, schema in ((spec.body, op.get("requestBody", {}).get("content", {}).get("application/json")),
                            (spec.response, op["responses"]["200"].get("content", {}).get("application/json"))):
            if cls is None or schema is None:
                continue
            ref = schema["schema"]["$ref"].rsplit("/", 1)[-1]
            documented = set(schemas[ref]["properties"])
            assert documented == {f.name for f in dataclasses.fields(cls)}, (spec.method, spec.path, ref)


async def test_out_of_range_numbers_and_nan_are_malformed_json(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S1")
    await add_person(app, "C1", role="counsellor", departments=("CS",))
    student = [  # (path, raw body): integers beyond 64 bits, floats beyond float, NaN/Infinity
        ("/api/v1/checkins/today", b'{"temperature_c": 1' + b"0" * 400 + b"}"),
        ("/api/v1/checkins/today", b'{"temperature_c": 1e400}'),
        ("/api/v1/checkins/today", b'{"temperature_c": NaN}'),
        ("/api/v1/checkins/today", b'{"temperature_c": -Infinity}'),
    ]
    counsellor = [
        ("/api/v1/review/return-applications/approve", b'{"ids": [1180591620717411303424]}'),
        ("/api/v1/review/return-applications/approve", b'{"ids": [-9223372036854775809]}'),
        ("/api/v1/reminders", b'{"user_ids": [9223372036854775808]}'),
    ]
    for number, cases in (("S1", student), ("C1", counsellor)):
        await activate(client, number)
        for path, raw in cases:
            r = await client.post(path, data=raw, headers={"Content-Type": "application/json"})
            assert r.status == 400, (path, raw[:60], r.status)
            assert (await r.json())["error"]["code"] == "malformed_json"
    # the 64-bit edges themselves are numbers like any other (refused, if at all, by the route)
    r = await client.post("/api/v1/review/return-applications/approve", data=b'{"ids": [9223372036854775807]}',
                          headers={"Content-Type": "application/json"})
    assert 200 <= r.status < 500 and (r.status < 400 or (await r.json())["error"]["code"] != "malformed_json")
