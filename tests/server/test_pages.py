"""The first-login path through the HTML forms, CSRF rejection, the language switch, escaping."""

from __future__ import annotations

import io
import re

from aiohttp.test_utils import TestClient

from server.web import state
from tests.server.conftest import activate, add_person, last_code

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _csrf(client: TestClient, path: str) -> str:
    r = await client.get(path)
    assert r.status == 200, path
    m = _CSRF.search(await r.text())
    assert m, f"no CSRF token on {path}"
    return m.group(1)


async def test_first_login_path_through_the_forms(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "2021009", id_last6="98765X", name="张三")

    r = await client.get("/", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/login")

    token = await _csrf(client, "/login")
    r = await client.post("/login", data={"csrf_token": token, "username": "2021009", "password": "wrong"})
    assert r.status == 401
    assert "学号/工号或密码错误" in await r.text()
    r = await client.post("/login", data={"csrf_token": token, "username": "2021009", "password": "98765x"},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/setup"
    # The setup session is confined to the setup page.
    r = await client.get("/", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/setup"

    token = await _csrf(client, "/setup")
    r = await client.post("/setup/password", data={"csrf_token": token, "old_password": "98765X",
                                                   "new_password": "2021009", "repeat_password": "2021009"})
    assert r.status == 422
    r = await client.post("/setup/password", data={"csrf_token": token, "old_password": "98765X",
                                                   "new_password": "a-good-secret", "repeat_password": "a-good-secret"},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/setup?msg=password_saved"

    r = await client.post("/setup/phone/code", data={"csrf_token": token, "phone": "13700137000"},
                          allow_redirects=False)
    assert r.status == 303
    await app[state.SERVICES].sms_sender.run_once()
    r = await client.post("/setup/phone/verify", data={"csrf_token": token, "phone": "13700137000",
                                                       "code": last_code(app[state.DATADIR])}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/?msg=phone_bound"
    r = await client.get("/?msg=phone_bound")
    text = await r.text()
    assert r.status == 200 and "你好，张三" in text and "手机号已绑定" in text

    r = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert r.status == 303
    r = await client.get("/", allow_redirects=False)
    assert r.status == 303


async def test_forms_without_the_right_csrf_token_are_refused(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S1")
    await client.get("/login")
    for data in ({"username": "S1", "password": "12345X"},
                 {"csrf_token": "forged", "username": "S1", "password": "12345X"}):
        r = await client.post("/login", data=data)
        assert r.status == 403
        assert "页面已过期" in await r.text()

    await activate(client, "S1")
    for path, data in (("/setup/password", {"old_password": "correct-horse-9", "new_password": "another-one-1",
                                            "repeat_password": "another-one-1"}),
                       ("/logout", {})):
        r = await client.post(path, data={**data, "csrf_token": "forged"}, allow_redirects=False)
        assert r.status == 403, path
    # The session survived the forged logout.
    r = await client.get("/api/v1/me")
    assert r.status == 200


async def test_language_switch_and_escaping(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S1", name="<script>alert(1)</script>")
    await activate(client, "S1")
    r = await client.get("/")
    text = await r.text()
    assert '<html lang="zh-CN">' in text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    r = await client.get("/lang/en?next=/", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/"
    r = await client.get("/")
    text = await r.text()
    assert '<html lang="en">' in text and "Log out" in text
    r = await client.get("/lang/en?next=//evil.example/", allow_redirects=False)
    assert r.headers["Location"] == "/"


async def test_pages_are_mobile_ready_and_self_contained(client: TestClient) -> None:
    r = await client.get("/login")
    text = await r.text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "http://" not in text and "https://" not in text  # no CDN
    r = await client.get("/static/app.css")
    assert r.status == 200 and "box-sizing" in await r.text()


async def test_malformed_form_is_a_400_page_not_a_500(client: TestClient) -> None:
    await client.get("/login")
    r = await client.post("/login", data=b"--xx\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=xx"})
    assert 400 <= r.status < 500


async def test_student_gets_a_403_page_for_admin_pages(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S1")
    await activate(client, "S1")
    for path in ("/admin", "/admin/roster", "/admin/sms", "/admin/audit"):
        r = await client.get(path, allow_redirects=False)
        assert r.status == 403, path
        assert "没有权限" in await r.text()


async def test_oversized_form_is_refused(client: TestClient) -> None:
    await client.get("/login")
    r = await client.post("/login", data={"username": "x" * 100_000, "password": "y"})
    assert r.status == 413


async def test_next_targets_with_whitespace_or_control_characters_stay_on_this_site(client: TestClient) -> None:
    # browsers drop tabs and newlines inside URLs: "/<TAB>/evil.example" would lead to //evil.example
    for raw in ("/%09/evil.example/", "/%0d%0a/evil.example/", "/%0a/evil.example", "/%20/evil.example",
                "/%7f/evil.example", "/ok%00"):
        r = await client.get(f"/lang/en?next={raw}", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/", raw
        r = await client.get(f"/login?next={raw}")
        assert r.status == 200
        assert 'name="next" value="/"' in await r.text(), raw
    r = await client.get("/lang/en?next=/passes%3Fq%3D1", allow_redirects=False)
    assert r.headers["Location"] == "/passes?q=1"


async def test_a_non_ascii_csrf_token_is_a_refusal_not_a_crash(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    token = await _csrf(client, "/login")
    for sent in ("é" + token[1:], "令牌", "\U0001f600"):
        r = await client.post("/login", data={"csrf_token": sent, "username": "x", "password": "y"})
        assert r.status == 403, sent
        assert "Traceback" not in await r.text()
    await add_person(app, "C1", role="counsellor", departments=("CS",))
    await activate(client, "C1")
    r = await client.post("/api/v1/arrivals/photo", data={"csrf_token": "µÚ³𣇋", "photo": io.BytesIO(b"x")})
    assert r.status == 403
    assert (await r.json())["error"]["code"] == "csrf_failed"
