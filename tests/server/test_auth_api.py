"""Login, first-login setup, logout and /me through the JSON API on a real loopback server."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.web import state
from shared.clock import FakeClock, to_unix
from tests.server.conftest import activate, add_person, last_code, sent_sms


async def test_first_login_path_through_the_api(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "2021001", id_last6="31452X")

    # An ID ending in X accepts x too.
    r = await client.post("/api/v1/auth/login", json={"username": "2021001", "password": "31452x"})
    assert r.status == 200
    body = await r.json()
    assert body["user"]["number"] == "2021001"
    assert body["must_change_password"] is True and body["must_bind_phone"] is True
    cookie = r.cookies["cp_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"

    # The setup session can do nothing but set a password and bind a phone.
    r = await client.get("/api/v1/people")
    assert r.status == 403 and (await r.json())["error"]["code"] == "setup_required"

    # Password policy.
    for bad in ("short", "2021001", "31452X", "31452x"):
        r = await client.post("/api/v1/auth/password", json={"old_password": "31452X", "new_password": bad})
        assert r.status == 422, bad
        assert (await r.json())["error"]["code"] == "weak_password"
    r = await client.post("/api/v1/auth/password", json={"old_password": "000000", "new_password": "long-enough-1"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "wrong_password"
    r = await client.post("/api/v1/auth/password", json={"old_password": "31452x", "new_password": "long-enough-1"})
    assert r.status == 200
    assert (await r.json())["must_change_password"] is False

    # Phone binding by SMS code.
    r = await client.post("/api/v1/auth/phone/code", json={"phone": "12345"})
    assert r.status == 422 and (await r.json())["error"]["code"] == "bad_phone"
    r = await client.post("/api/v1/auth/phone/code", json={"phone": "+86 138-0013-8000"})
    assert r.status == 200
    assert (await r.json())["phone"] == "13800138000"
    r = await client.post("/api/v1/auth/phone/code", json={"phone": "13800138000"})
    assert r.status == 429 and (await r.json())["error"]["code"] == "code_resend_wait"
    assert await app[state.SERVICES].sms_sender.run_once() == 1
    assert sent_sms(app[state.DATADIR])[0]["phone"] == "13800138000"
    code = last_code(app[state.DATADIR])
    wrong = "000000" if code != "000000" else "111111"
    r = await client.post("/api/v1/auth/phone/verify", json={"phone": "13800138000", "code": wrong})
    assert r.status == 403
    assert (await r.json())["error"] == {"code": "wrong_code", "message": "wrong code; 4 tries left", "tries_left": 4}
    r = await client.post("/api/v1/auth/phone/verify", json={"phone": "13800138000", "code": code})
    assert r.status == 200
    body = await r.json()
    assert body["must_bind_phone"] is False and body["user"]["phone_verified"] is True

    # The initial password no longer works; the new one does.
    await client.post("/api/v1/auth/logout", json={})
    r = await client.get("/api/v1/me")
    assert r.status == 401 and (await r.json())["error"]["code"] == "not_logged_in"
    r = await client.post("/api/v1/auth/login", json={"username": "2021001", "password": "31452X"})
    assert r.status == 401
    r = await client.post("/api/v1/auth/login", json={"username": "2021001", "password": "long-enough-1"})
    assert r.status == 200
    assert (await r.json())["must_change_password"] is False


async def test_phone_code_expires_and_allows_five_tries(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "2021002")
    await client.post("/api/v1/auth/login", json={"username": "2021002", "password": "12345X"})
    await client.post("/api/v1/auth/phone/code", json={"phone": "13900139000"})
    await app[state.SERVICES].sms_sender.run_once()
    code = last_code(app[state.DATADIR])
    clock.advance(301)
    r = await client.post("/api/v1/auth/phone/verify", json={"phone": "13900139000", "code": code})
    assert r.status == 410 and (await r.json())["error"]["code"] == "code_expired"

    r = await client.post("/api/v1/auth/phone/code", json={"phone": "13900139000"})
    assert r.status == 200
    await app[state.SERVICES].sms_sender.run_once()
    code = last_code(app[state.DATADIR])
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        r = await client.post("/api/v1/auth/phone/verify", json={"phone": "13900139000", "code": wrong})
        assert r.status == 403
    r = await client.post("/api/v1/auth/phone/verify", json={"phone": "13900139000", "code": code})
    assert r.status == 429 and (await r.json())["error"]["code"] == "code_exhausted"


async def test_me_and_active_account(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S1")
    await activate(client, "S1")
    r = await client.get("/api/v1/me")
    body = await r.json()
    assert r.status == 200
    assert body["user"]["role"] == "student" and body["must_bind_phone"] is False
    assert "password_hash" not in body["user"] and "subject" not in body["user"]


async def test_unknown_user_and_wrong_password_are_the_same_answer(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S2")
    r1 = await client.post("/api/v1/auth/login", json={"username": "S2", "password": "nope"})
    r2 = await client.post("/api/v1/auth/login", json={"username": "nobody", "password": "nope"})
    assert r1.status == r2.status == 401
    assert await r1.json() == await r2.json()


async def test_sessions_expire_and_housekeeping_drops_them(client: TestClient, clock: FakeClock) -> None:
    from server.app import housekeeping_once

    app = client.server.app
    assert app is not None
    await add_person(app, "S3")
    await activate(client, "S3")
    assert (await client.get("/api/v1/me")).status == 200
    clock.advance(app[state.CONFIG].auth.session_hours * 3600 + 1)
    r = await client.get("/api/v1/me")
    assert r.status == 401
    sessions, _counters = await housekeeping_once(app)
    assert sessions == 1


async def test_password_change_ends_other_sessions(client: TestClient, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    app = client.server.app
    assert app is not None
    await add_person(app, "S4")
    await activate(client, "S4", new_password="first-password-1")
    other = await aiohttp_client(client.server)
    r = await other.post("/api/v1/auth/login", json={"username": "S4", "password": "first-password-1"})
    assert r.status == 200
    r = await client.post("/api/v1/auth/password", json={"old_password": "first-password-1",
                                                         "new_password": "second-password-2"})
    assert r.status == 200
    assert (await client.get("/api/v1/me")).status == 200
    assert (await other.get("/api/v1/me")).status == 401


async def test_phone_code_resend_is_throttled(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S5")
    await client.post("/api/v1/auth/login", json={"username": "S5", "password": "12345X"})
    for _ in range(5):
        r = await client.post("/api/v1/auth/phone/code", json={"phone": "13600136000"})
        assert r.status == 200
        clock.advance(61)
    r = await client.post("/api/v1/auth/phone/code", json={"phone": "13600136000"})
    body = await r.json()
    assert r.status == 429 and body["error"]["code"] == "code_send_limit"
    assert r.headers["Retry-After"] == str(body["error"]["retry_after_s"])
    clock.advance(3600)
    r = await client.post("/api/v1/auth/phone/code", json={"phone": "13600136000"})
    assert r.status == 200
    assert await app[state.SERVICES].sms_sender.run_once() == 6


async def test_login_upgrades_a_hash_made_with_old_parameters(client: TestClient) -> None:
    from server.passwords import Argon2Params, PasswordHasher
    from server.storage.people import People

    app = client.server.app
    assert app is not None
    await add_person(app, "S6")
    await activate(client, "S6", new_password="upgrade-me-1")
    people = People(app[state.SERVICES].db)
    person = await people.by_number("S6")
    assert person is not None
    old = PasswordHasher(Argon2Params(memory_kib=32, iterations=1, lanes=1)).hash_sync("upgrade-me-1")
    async with app[state.SERVICES].db.transaction() as conn:
        await People.rehash_password(conn, person.id, person.password_hash, old)
    r = await client.post("/api/v1/auth/login", json={"username": "S6", "password": "upgrade-me-1"})
    assert r.status == 200
    person = await people.by_number("S6")
    assert person is not None and not app[state.HASHER].needs_rehash(person.password_hash)


async def test_session_touches_are_batched_and_slide_the_expiry(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S9")
    await activate(client, "S9")
    db, hours = app[state.SERVICES].db, app[state.CONFIG].auth.session_hours

    async def stored() -> tuple[int, int]:
        row = await db.fetch_one("SELECT last_seen_at, expires_at FROM sessions s JOIN people p"
                                 " ON p.id = s.person_id WHERE p.number = 'S9'")
        assert row is not None
        return int(row[0]), int(row[1])

    created_s, _ = await stored()
    clock.advance(hours * 1800)  # half the lifetime: the touch is remembered, not written yet
    now_s = to_unix(clock.now())
    assert (await client.get("/api/v1/me")).status == 200
    assert (await stored())[0] == created_s and len(app[state.SERVICES].session_touches) == 1
    assert await app[state.SERVICES].session_touches.flush() == 1
    assert await stored() == (now_s, now_s + hours * 3600)

    # Without the flush, the session still lives on its stored expiry; close to it, the touch is written at once.
    clock.advance(hours * 3600 - 300)
    now_s = to_unix(clock.now())
    assert (await client.get("/api/v1/me")).status == 200
    assert await stored() == (now_s, now_s + hours * 3600) and len(app[state.SERVICES].session_touches) == 0
    clock.advance(hours * 3600 - 1)
    assert (await client.get("/api/v1/me")).status == 200


async def test_remembered_session_touches_are_written_on_shutdown(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S8")
    await activate(client, "S8")
    clock.advance(3600)
    now_s = to_unix(clock.now())
    assert (await client.get("/api/v1/me")).status == 200
    assert len(app[state.SERVICES].session_touches) == 1
    datadir = app[state.DATADIR]
    await client.close()  # runs the app's cleanup: the background flush stops, the touches are written
    db = await datadir.open_database()
    try:
        row = await db.fetch_one("SELECT s.last_seen_at FROM sessions s JOIN people p ON p.id = s.person_id"
                                 " WHERE p.number = 'S8'")
        assert row is not None and int(row[0]) == now_s
    finally:
        await db.close()
