"""The university's login beside the built-in accounts: LDAP simple bind against a real slapd
(direct DN and search with a service account; wrong password, locked account, unknown user,
directory down), CAS 3.0 against a loopback server answering with the protocol's example
responses; first login through either still forces phone binding; the roster stays the source
of roles; the built-in password login can be switched off."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.cas_login import parse_service_response
from server.config import AuthConfig, CasConfig, LdapConfig, ServerConfig, load_server_config
from server.datadir import DataDir
from server.ldap_login import LdapDirectory, ppolicy_error
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.web import state
from shared.clock import FakeClock
from shared.errors import ConfigError
from tests.server.conftest import add_person, last_code
from tests.server.slapd import SERVICE_DN, SERVICE_PW, SUFFIX, Slapd, person_ldif, start_slapd


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    try:
        server.add(person_ldif("2026001", "dir-pass-1", employee_number="2026001")
                   + person_ldif("zhangsan", "dir-pass-2", employee_number="2026002")
                   + person_ldif("2026003", "dir-pass-3", locked=True)
                   + person_ldif("2026009", "dir-pass-9")  # in the directory, not on the roster
                   + person_ldif("A9", "dir-pass-a9"))  # a system admin's number in the directory too
        yield server
    finally:
        server.stop()


def direct(slapd: Slapd, **kw: Any) -> LdapConfig:
    return LdapConfig(enabled=True, url=slapd.url, user_dn=f"uid={{username}},ou=people,{SUFFIX}", timeout_s=3.0,
                      **kw)


def searching(slapd: Slapd, **kw: Any) -> LdapConfig:
    config = LdapConfig(enabled=True, url=slapd.url, search_base=f"ou=people,{SUFFIX}",
                        search_filter="(|(uid={username})(employeeNumber={username}))", bind_dn=SERVICE_DN,
                        bind_password=SERVICE_PW, number_attribute="employeeNumber", timeout_s=3.0)
    return replace(config, **kw)


# ---- the adapter against slapd --------------------------------------------------------------


async def test_ldap_outcomes_against_a_real_slapd(slapd: Slapd) -> None:
    d = LdapDirectory(direct(slapd))
    assert (await d.authenticate("2026001", "dir-pass-1")).number == "2026001"
    cases = {("2026001", "wrong"): "directory_wrong_password",
             ("2026001", ""): "directory_wrong_password",      # an empty password is an anonymous bind: refused
             ("nobody", "dir-pass-1"): "directory_wrong_password",  # unknown user: same answer, no enumeration
             ("2026003", "dir-pass-3"): "directory_locked",
             ("a,uid=x", "dir-pass-1"): "directory_wrong_password"}  # DN injection is escaped
    for (user, password), code in cases.items():
        with pytest.raises(Exception) as err:
            await d.authenticate(user, password)
        assert getattr(err.value, "code", None) == code, (user, password, err.value)


async def test_ldaps_verifies_the_directory_certificate(slapd: Slapd) -> None:
    # A certificate no trusted CA signed is refused: the password never goes out.
    untrusted = LdapDirectory(replace(direct(slapd), url=slapd.ldaps_url))
    with pytest.raises(Exception) as err:
        await untrusted.authenticate("2026001", "dir-pass-1")
    assert getattr(err.value, "code", None) == "directory_unavailable"
    trusted = LdapDirectory(replace(direct(slapd), url=slapd.ldaps_url, ca_file=str(slapd.folder / "cert.pem")))
    assert (await trusted.authenticate("2026001", "dir-pass-1")).number == "2026001"


async def test_ldap_search_with_a_service_account_maps_the_number_attribute(slapd: Slapd) -> None:
    d = LdapDirectory(searching(slapd))
    user = await d.authenticate("zhangsan", "dir-pass-2")
    assert user.number == "2026002" and user.dn.startswith("uid=zhangsan,")
    assert (await d.authenticate("2026002", "dir-pass-2")).number == "2026002"  # found by employeeNumber too
    with pytest.raises(Exception) as err:
        await d.authenticate("zhang*", "dir-pass-2")  # a filter wildcard is escaped, not matched
    assert getattr(err.value, "code", None) == "directory_wrong_password"
    broken = LdapDirectory(searching(slapd, bind_password="not-the-service-password"))
    with pytest.raises(Exception) as err:
        await broken.authenticate("zhangsan", "dir-pass-2")
    assert getattr(err.value, "code", None) == "directory_misconfigured"


async def test_a_directory_that_is_down_is_reported_as_such() -> None:
    from campuspass.processes import free_port

    d = LdapDirectory(LdapConfig(enabled=True, url=f"ldap://127.0.0.1:{free_port()}",
                                 user_dn="uid={username},ou=people,dc=x", timeout_s=1.0))
    with pytest.raises(Exception) as err:
        await d.authenticate("2026001", "dir-pass-1")
    assert getattr(err.value, "code", None) == "directory_unavailable"


def test_password_policy_control_decoding() -> None:
    assert ppolicy_error(b"0\x03\x81\x01\x01") == 1          # accountLocked
    assert ppolicy_error(b"0\x06\xa0\x01\x00\x81\x01\x02") == 2  # a warning, then changeAfterReset
    assert ppolicy_error(b"0\x00") is None and ppolicy_error(None) is None and ppolicy_error(b"\x04") is None


# ---- through the app ------------------------------------------------------------------------

MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_client(datadir: DataDir, clock: FakeClock, aiohttp_client: Callable[..., Awaitable[TestClient]]) -> MakeClient:
    async def make(auth: AuthConfig) -> TestClient:
        app = create_app(datadir, clock=clock, config=ServerConfig(auth=auth),
                         hasher=PasswordHasher(FAST_TEST_PARAMS), run_sms_sender=False, run_jobs=False)
        client = await aiohttp_client(app)
        await add_person(app, "2026001", id_last6="11111X")
        await add_person(app, "2026002", role="counsellor", department="CS", departments=("CS",))
        await add_person(app, "2026003")
        await add_person(app, "A9", role="system_admin", department=None, id_last6="99999X")
        return client

    return make


async def form_post(client: TestClient, path: str, data: dict[str, str], page: str = "/login") -> Any:
    html = await (await client.get(page)).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token, html[:500]
    return await client.post(path, data={"csrf_token": token.group(1), **data}, allow_redirects=False)


async def test_ldap_login_through_the_page_forces_only_phone_binding(slapd: Slapd, make_client: MakeClient) -> None:
    client = await make_client(AuthConfig(ldap=searching(slapd)))
    app = client.server.app
    assert app is not None
    r = await form_post(client, "/login", {"username": "zhangsan", "password": "dir-pass-2"})
    assert r.status == 303 and r.headers["Location"] == "/setup"
    me = await (await client.get("/api/v1/me")).json()
    assert me["user"]["number"] == "2026002" and me["user"]["role"] == "counsellor"  # roles from the roster
    assert me["must_change_password"] is False and me["must_bind_phone"] is True
    assert (await client.get("/api/v1/checkins/today")).status == 403  # setup first
    r = await client.post("/api/v1/auth/phone/code", json={"phone": "13800138002"})
    assert r.status == 200
    await app[state.SERVICES].sms_sender.run_once()
    r = await client.post("/api/v1/auth/phone/verify", json={"phone": "13800138002", "code": last_code(app[state.DATADIR])})
    assert r.status == 200 and (await r.json())["user"]["number"] == "2026002"
    me = await (await client.get("/api/v1/me")).json()
    assert me["must_bind_phone"] is False
    # The roster's initial password no longer opens an account that signs in with the directory.
    await client.post("/api/v1/auth/logout", json={})
    r = await client.post("/api/v1/auth/login", json={"username": "2026002", "password": "12345X"})
    assert r.status == 401


@pytest.mark.parametrize(("username", "password", "status", "text"), [
    ("2026001", "wrong", 401, "学号/工号或密码错误"),
    ("nobody", "whatever", 401, "学号/工号或密码错误"),
    ("2026003", "dir-pass-3", 403, "已被锁定"),
    ("2026009", "dir-pass-9", 403, "不在本系统名单"),
])
async def test_ldap_refusals_are_clear_and_never_500(slapd: Slapd, make_client: MakeClient, username: str,
                                                      password: str, status: int, text: str) -> None:
    client = await make_client(AuthConfig(ldap=direct(slapd), password_login=False))
    r = await form_post(client, "/login", {"username": username, "password": password})
    assert r.status == status and text in await r.text()
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status == status and (await r.json())["error"]["code"] in (
        "bad_credentials", "directory_locked", "not_on_roster")


async def test_directory_down_with_password_login_off(make_client: MakeClient) -> None:
    from campuspass.processes import free_port

    down = LdapConfig(enabled=True, url=f"ldap://127.0.0.1:{free_port()}", user_dn="uid={username},dc=x", timeout_s=1.0)
    client = await make_client(AuthConfig(ldap=down, password_login=False))
    r = await form_post(client, "/login", {"username": "2026001", "password": "dir-pass-1"})
    assert r.status == 503 and "统一身份认证" in await r.text()
    r = await client.post("/api/v1/auth/login", json={"username": "2026001", "password": "dir-pass-1"})
    assert r.status == 503 and (await r.json())["error"]["code"] == "directory_unavailable"
    # Built-in login is off: the roster's initial password is refused, the system admin's is not.
    r = await client.post("/api/v1/auth/login", json={"username": "2026001", "password": "11111X"})
    assert r.status in (401, 503)
    r = await client.post("/api/v1/auth/login", json={"username": "A9", "password": "99999X"})
    assert r.status == 200


async def test_system_admins_keep_their_own_password(slapd: Slapd, make_client: MakeClient) -> None:
    client = await make_client(AuthConfig(ldap=direct(slapd), password_login=False))
    r = await client.post("/api/v1/auth/login", json={"username": "A9", "password": "dir-pass-a9"})
    assert r.status == 401  # the directory does not open a system admin's account
    r = await client.post("/api/v1/auth/login", json={"username": "A9", "password": "99999X"})
    assert r.status == 200 and (await r.json())["user"]["role"] == "system_admin"


async def test_password_login_still_works_beside_ldap_when_on(slapd: Slapd, make_client: MakeClient) -> None:
    client = await make_client(AuthConfig(ldap=direct(slapd)))
    r = await client.post("/api/v1/auth/login", json={"username": "2026001", "password": "11111X"})
    assert r.status == 200 and (await r.json())["must_change_password"] is True


# ---- CAS ------------------------------------------------------------------------------------

SUCCESS = """<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
 <cas:authenticationSuccess>
  <cas:user>{user}</cas:user>
  <cas:attributes>
    <cas:firstname>John</cas:firstname>
    <cas:lastname>Doe</cas:lastname>
    <cas:title>Mr.</cas:title>
    <cas:email>jdoe@example.org</cas:email>
    <cas:affiliation>staff</cas:affiliation>
    <cas:affiliation>faculty</cas:affiliation>
    <cas:employeeNumber>{number}</cas:employeeNumber>
  </cas:attributes>
  <cas:proxyGrantingTicket>PGTIOU-84678-8a9d...</cas:proxyGrantingTicket>
 </cas:authenticationSuccess>
</cas:serviceResponse>"""

FAILURE = """<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
 <cas:authenticationFailure code="INVALID_TICKET">
    Ticket {ticket} not recognized
  </cas:authenticationFailure>
</cas:serviceResponse>"""


class FakeCas:
    """A CAS 3.0 server: /login issues a service ticket for the user named in ``user``;
    /p3/serviceValidate answers with the protocol document's example responses."""

    def __init__(self) -> None:
        self.tickets: dict[str, tuple[str, str, str]] = {}
        self.validations: list[dict[str, str]] = []
        self.next_user = ("jdoe", "2026001")

    async def login(self, request: web.Request) -> web.Response:
        service = request.query["service"]
        ticket = f"ST-{len(self.tickets) + 1856339}-aA5Yuvrxzpv8Tau1cYQ7"
        self.tickets[ticket] = (service, *self.next_user)
        sep = "&" if "?" in service else "?"
        raise web.HTTPFound(f"{service}{sep}ticket={ticket}")

    async def validate(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.validations.append(q)
        found = self.tickets.pop(q.get("ticket", ""), None)  # a ticket is good once
        if found is None or found[0] != q.get("service"):
            return web.Response(text=FAILURE.format(ticket=q.get("ticket", "")), content_type="application/xml")
        return web.Response(text=SUCCESS.format(user=found[1], number=found[2]), content_type="application/xml")


@pytest.fixture
async def cas(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[FakeCas, str]:
    fake = FakeCas()
    app = web.Application()
    app.router.add_get("/cas/login", fake.login)
    app.router.add_get("/cas/p3/serviceValidate", fake.validate)
    server = await aiohttp_server(app)
    return fake, str(server.make_url("/cas"))


def test_parse_the_protocol_documents_examples() -> None:
    user = parse_service_response(SUCCESS.format(user="username", number="2026001").encode(), "employeeNumber")
    assert (user.user, user.number) == ("username", "2026001")
    assert user.attributes["affiliation"] == ["staff", "faculty"]
    assert parse_service_response(SUCCESS.format(user="2026001", number="x").encode()).number == "2026001"
    with pytest.raises(Exception) as err:
        parse_service_response(FAILURE.format(ticket="ST-1856339-aA5Yuvrxzpv8Tau1cYQ7").encode())
    assert "INVALID_TICKET" in str(err.value) and getattr(err.value, "code", None) == "cas_ticket_refused"
    with pytest.raises(Exception) as err:
        parse_service_response(b"<html>502 Bad Gateway</html>")
    assert getattr(err.value, "code", None) == "cas_unavailable"
    with pytest.raises(Exception) as err:
        parse_service_response(SUCCESS.format(user="u", number="n").encode(), "studentNumber")
    assert getattr(err.value, "code", None) == "cas_misconfigured"


async def test_cas_login_redirect_validation_and_phone_binding(cas: tuple[FakeCas, str], make_client: MakeClient) -> None:
    fake, cas_url = cas
    client = await make_client(AuthConfig(password_login=False, cas=CasConfig(
        enabled=True, server_url=cas_url, service_url="http://campuspass.test/login/cas",
        number_attribute="employeeNumber")))
    page = await (await client.get("/login")).text()
    # The password form is off for everyone but system admins: folded away under the CAS button.
    assert page.index('href="/login/cas') < page.index("<details><summary>系统管理员登录</summary>") < page.index('name="password"')
    r = await client.get("/login/cas", params={"next": "/checkin"}, allow_redirects=False)
    assert r.status == 303
    to_cas = urlsplit(r.headers["Location"])
    service = parse_qs(to_cas.query)["service"][0]
    assert r.headers["Location"].startswith(cas_url + "/login?") and service.startswith("http://campuspass.test/login/cas")
    # The browser signs in at CAS and comes back with a ticket.
    from aiohttp import ClientSession

    async with ClientSession() as browser:
        back = await browser.get(r.headers["Location"], allow_redirects=False)
    returned = urlsplit(back.headers["Location"])
    r = await client.get(f"/login/cas?{returned.query}", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/setup"
    assert fake.validations[-1]["service"] == service
    me = await (await client.get("/api/v1/me")).json()
    assert me["user"]["number"] == "2026001" and me["must_change_password"] is False and me["must_bind_phone"] is True
    # The same ticket again (a reload, a replay): refused with a clear message.
    await client.post("/api/v1/auth/logout", json={})
    r = await client.get(f"/login/cas?{returned.query}", allow_redirects=False)
    assert r.status == 401 and "INVALID_TICKET" in await r.text()


async def test_cas_user_not_on_the_roster_and_cas_down(cas: tuple[FakeCas, str], make_client: MakeClient) -> None:
    fake, cas_url = cas
    fake.next_user = ("visitor", "9999999")
    client = await make_client(AuthConfig(cas=CasConfig(enabled=True, server_url=cas_url,
                                                        service_url="http://campuspass.test/login/cas",
                                                        number_attribute="employeeNumber")))
    from aiohttp import ClientSession

    r = await client.get("/login/cas", allow_redirects=False)
    async with ClientSession() as browser:
        back = await browser.get(r.headers["Location"], allow_redirects=False)
    r = await client.get(f"/login/cas?{urlsplit(back.headers['Location']).query}", allow_redirects=False)
    assert r.status == 403 and "不在本系统名单" in await r.text()

    from campuspass.processes import free_port

    down = await make_client(AuthConfig(cas=CasConfig(enabled=True, server_url=f"http://127.0.0.1:{free_port()}/cas",
                                                      service_url="http://campuspass.test/login/cas", timeout_s=1.0)))
    r = await down.get("/login/cas?ticket=ST-1-abc", allow_redirects=False)
    assert r.status == 503 and "统一身份认证" in await r.text()


def test_login_config_is_checked_at_start(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text("[auth]\npassword_login = false\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_server_config(path)
    assert "no way to log in" in err.value.message
    path.write_text('[auth.ldap]\nenabled = true\nurl = "ldap://x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_server_config(path)
    assert "user_dn or search_base" in err.value.message
    path.write_text('[auth.cas]\nenabled = true\nserver_url = "https://cas.example.edu.cn/cas"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_server_config(path)
    assert "service_url" in err.value.message
