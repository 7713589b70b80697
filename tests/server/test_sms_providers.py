"""Template SMS providers: the signatures reproduce the worked examples Alibaba Cloud and Tencent
Cloud publish; against a loopback HTTP server playing each provider (which checks every request's
signature by the published algorithm and answers with the provider's documented error codes):
success, throttled then sent, bad template, bad signature name, a wrong key, a timeout; one send
per outbox row under retries; the start-up check that every message has its template; the
admin SMS page shows the class of each failure."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.config import (
    AliyunSmsConfig,
    ServerConfig,
    SmsConfig,
    SmsTemplate,
    SmsTemplates,
    TencentSmsConfig,
    load_server_config,
)
from server.datadir import DataDir
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.sms import SmsGateway, SmsSender
from server.sms_providers import (
    AliyunGateway,
    TencentGateway,
    aliyun_signature,
    aliyun_string_to_sign,
    tc3_authorization,
    tc3_canonical_request,
)
from server.storage import Database
from server.storage.sms import SmsOutboxStore
from server.web import state
from shared.clock import FakeClock, to_unix
from shared.errors import ConfigError
from tests.server.conftest import add_person

# ---- the providers' published examples ------------------------------------------------------

ALIYUN_SMS_EXAMPLE = {  # Alibaba Cloud SMS, SendSms request example (GET)
    "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123", "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466", "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}


def test_aliyun_signature_reproduces_the_published_examples() -> None:
    assert aliyun_string_to_sign(ALIYUN_SMS_EXAMPLE, "GET") == (
        "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001"
        "%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4"
        "%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1"
        "%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode%3D"
        "SMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D"
        "2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25")
    assert aliyun_signature(ALIYUN_SMS_EXAMPLE, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    # The RPC signature mechanism's own example (DescribeRegions).
    assert aliyun_signature({
        "Format": "XML", "AccessKeyId": "testid", "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
        "Version": "2014-05-26", "Timestamp": "2016-02-23T12:46:24Z"}, "testsecret", "GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_tc3_signature_reproduces_the_published_example() -> None:
    payload = '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    canonical = tc3_canonical_request(payload, "cvm.tencentcloudapi.com")
    assert canonical.endswith("content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
    assert tc3_authorization("AKID**********************0123456789EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                             "cvm", "cvm.tencentcloudapi.com", payload, 1551113065) == (
        "TC3-HMAC-SHA256 Credential=AKID**********************0123456789EXAMPLE/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168")


# ---- loopback servers playing the providers -------------------------------------------------

ALIYUN_KEY = ("LTAI5tTestKeyId", "provider-side-secret")
TENCENT_KEY = ("AKIDtestSecretId0123", "provider-side-secret-key")
SDK_APP_ID = "1400006666"


@dataclass
class FakeProvider:
    """A provider's SendSms endpoint: checks signatures itself, answers from a script.

    ``script`` is popped per request: ``"ok"``, an error code, or ``"hang"`` (no answer).
    ``accepted`` holds every request the provider took and answered OK (what a phone receives).
    """

    kind: str
    script: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    sign_names: tuple[str, ...] = ("某某大学",)
    templates: tuple[str, ...] = ("SMS_100001", "SMS_100002", "SMS_100003", "SMS_100004", "SMS_100005",
                                  "SMS_100006", "1001", "1002", "1003", "1004", "1005", "1006")
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/"))

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.kind == "aliyun":
            params = dict(parse_qsl(raw.decode(), keep_blank_values=True))
            self.requests.append(params)
            if not _aliyun_signature_ok(params, dict(request.headers)):
                return _aliyun("SignatureDoesNotMatch", "Specified signature is not matched with our calculation.", 400)
            sign, template, outcome = params["SignName"], params["TemplateCode"], self._next()
        else:
            body = json.loads(raw)
            self.requests.append({"headers": dict(request.headers), "body": body})
            if not _tc3_ok(request, raw):
                return _tencent_error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
            sign, template, outcome = body["SignName"], body["TemplateId"], self._next()
        if outcome == "hang":
            await asyncio.sleep(5)
        if outcome == "ok" and sign not in self.sign_names:
            outcome = "isv.SMS_SIGNATURE_ILLEGAL" if self.kind == "aliyun" else "FailedOperation.SignatureIncorrectOrUnapproved"
        if outcome == "ok" and template not in self.templates:
            outcome = "isv.SMS_TEMPLATE_ILLEGAL" if self.kind == "aliyun" else "FailedOperation.TemplateIncorrectOrUnapproved"
        if outcome == "ok":
            self.accepted.append(self.requests[-1])
        if self.kind == "aliyun":
            return _aliyun("OK" if outcome == "ok" else outcome, "OK" if outcome == "ok" else outcome.split(".")[-1])
        status = {"Code": "Ok" if outcome == "ok" else outcome, "Message": "send success",
                  "PhoneNumber": body["PhoneNumberSet"][0], "SerialNo": "2019:123", "Fee": 1,
                  "SessionContext": body.get("SessionContext", ""), "IsoCode": "CN"}
        return web.json_response({"Response": {"SendStatusSet": [status], "RequestId": "a0aabda6"}})

    def _next(self) -> str:
        return self.script.pop(0) if self.script else "ok"


def _aliyun(code: str, message: str, status: int = 200) -> web.Response:
    return web.json_response({"Code": code, "Message": message, "RequestId": "F655A8D5", "BizId": "9002"},
                             status=status)


def _tencent_error(code: str, message: str) -> web.Response:
    return web.json_response({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "ed93f3cb"}})


def _aliyun_signature_ok(params: dict[str, str], headers: dict[str, str]) -> bool:
    """The published RPC v1 algorithm, written out independently of the product's code."""
    if params.get("AccessKeyId") != ALIYUN_KEY[0] or params.get("SignatureMethod") != "HMAC-SHA1":
        return False

    def enc(s: str) -> str:
        return quote(s, safe="-_.~")

    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()) if k != "Signature")
    to_sign = "POST&%2F&" + enc(canonical)
    expected = base64.b64encode(hmac.new((ALIYUN_KEY[1] + "&").encode(), to_sign.encode(), "sha1").digest()).decode()
    return hmac.compare_digest(expected, params.get("Signature", ""))


def _tc3_ok(request: web.Request, raw: bytes) -> bool:
    """The published TC3-HMAC-SHA256 algorithm, written out independently of the product's code."""
    auth = request.headers.get("Authorization", "")
    m = re.fullmatch(r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d\d-\d\d)/sms/tc3_request, "
                     r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})", auth)
    if m is None or m.group(1) != TENCENT_KEY[0]:
        return False
    timestamp = request.headers["X-TC-Timestamp"]
    if datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d") != m.group(2):
        return False
    signed = m.group(3).split(";")
    canonical_headers = "".join(f"{h}:{request.headers[h].strip().lower() if h != 'content-type' else request.headers[h]}\n"
                                for h in signed)
    canonical = "\n".join(["POST", "/", "", canonical_headers, m.group(3), hashlib.sha256(raw).hexdigest()])
    scope = f"{m.group(2)}/sms/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("TC3" + TENCENT_KEY[1]).encode()
    for part in (m.group(2), "sms", "tc3_request"):
        key = hmac.new(key, part.encode(), "sha256").digest()
    return hmac.compare_digest(hmac.new(key, to_sign.encode(), "sha256").hexdigest(), m.group(4))


def templates(kind: str) -> SmsTemplates:
    codes = "SMS_10000" if kind == "aliyun" else "100"
    return SmsTemplates(
        phone_code=SmsTemplate(f"{codes}1", ["code", "minutes"], ["code", "min"] if kind == "aliyun" else []),
        login_code=SmsTemplate(f"{codes}6", ["code"]),
        application_approved=SmsTemplate(f"{codes}2", ["name", "date"]),
        application_rejected=SmsTemplate(f"{codes}3", ["name", "stage", "reason", "phone"]),
        checkin_abnormal=SmsTemplate(f"{codes}4", ["name", "number"]),
        checkin_reminder=SmsTemplate(f"{codes}5", ["name", "date"]),
    )


def sms_config(kind: str, url: str, *, secret: str | None = None, sign_name: str = "某某大学") -> SmsConfig:
    if kind == "aliyun":
        return SmsConfig(gateway="aliyun", timeout_s=0.5, sign_name=sign_name, templates=templates(kind),
                         aliyun=AliyunSmsConfig(ALIYUN_KEY[0], secret or ALIYUN_KEY[1], endpoint=url))
    return SmsConfig(gateway="tencent", timeout_s=0.5, sign_name=sign_name, templates=templates(kind),
                     tencent=TencentSmsConfig(TENCENT_KEY[0], secret or TENCENT_KEY[1], SDK_APP_ID, endpoint=url))


def gateway_of(config: SmsConfig, clock: FakeClock) -> SmsGateway:
    return AliyunGateway(config, clock) if config.gateway == "aliyun" else TencentGateway(config, clock)


Start = Callable[..., Awaitable[tuple[FakeProvider, SmsSender, SmsOutboxStore, FakeClock]]]


@pytest.fixture
async def start(tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]]
                ) -> Any:
    made: list[tuple[Database, SmsGateway]] = []

    async def make(kind: str, script: list[str] | None = None, **config_kw: Any
                   ) -> tuple[FakeProvider, SmsSender, SmsOutboxStore, FakeClock]:
        provider = FakeProvider(kind, list(script or []))
        app = web.Application()
        app.router.add_post("/", provider.handle)
        provider.server = await aiohttp_server(app)
        clock = FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
        db = await Database.open(tmp_path / f"{kind}-{len(made)}.sqlite3")
        gateway = gateway_of(sms_config(kind, provider.url, **config_kw), clock)
        made.append((db, gateway))
        store = SmsOutboxStore(db)
        return provider, SmsSender(store, gateway, clock, max_attempts=5), store, clock

    yield make
    for db, gateway in made:
        await gateway.close()
        await db.close()


async def enqueue_code(store: SmsOutboxStore, clock: FakeClock, message_id: str = "phone-code:1") -> None:
    async with store.db.transaction() as conn:
        await SmsOutboxStore.enqueue(conn, message_id=message_id, phone="+8613800138000",
                                     body="【某某大学】您的验证码是 123456，5 分钟内有效。", purpose="phone_code",
                                     now_s=to_unix(clock.now()), params={"code": "123456", "minutes": "5"})


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
async def test_success_sends_the_template_with_its_parameters(start: Start, kind: str) -> None:
    provider, sender, store, clock = await start(kind)
    await enqueue_code(store, clock)
    assert await sender.run_once() == 1
    msg = await store.get("phone-code:1")
    assert msg is not None and msg.status == "sent" and msg.error_class == ""
    (sent,) = provider.accepted
    if kind == "aliyun":
        assert (sent["PhoneNumbers"], sent["SignName"], sent["TemplateCode"]) == ("13800138000", "某某大学", "SMS_100001")
        assert json.loads(sent["TemplateParam"]) == {"code": "123456", "min": "5"}
        assert sent["OutId"] == "phone-code:1" and sent["Timestamp"] == "2026-03-02T01:00:00Z"
    else:
        body = sent["body"]
        assert (body["PhoneNumberSet"], body["SmsSdkAppId"], body["SignName"], body["TemplateId"]) == (
            ["+8613800138000"], SDK_APP_ID, "某某大学", "1001")
        assert body["TemplateParamSet"] == ["123456", "5"]
        assert sent["headers"]["X-TC-Action"] == "SendSms" and sent["headers"]["X-TC-Version"] == "2021-01-11"


THROTTLED = {"aliyun": "isv.BUSINESS_LIMIT_CONTROL", "tencent": "LimitExceeded.PhoneNumberThirtySecondLimit"}


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
async def test_throttled_then_sent_exactly_once(start: Start, kind: str) -> None:
    provider, sender, store, clock = await start(kind, [THROTTLED[kind], THROTTLED[kind]])
    await enqueue_code(store, clock)
    assert await sender.run_once() == 0
    msg = await store.get("phone-code:1")
    assert msg is not None and (msg.status, msg.error_class) == ("pending", "retry")
    assert THROTTLED[kind] in msg.last_error
    assert await sender.run_once() == 0  # not due yet: no second request
    assert len(provider.requests) == 1
    clock.advance(30)
    await asyncio.gather(sender.run_once(), sender.run_once())  # two senders racing: one claims it
    clock.advance(60)
    assert await sender.run_once() == 1
    for _ in range(3):
        clock.advance(3600)
        assert await sender.run_once() == 0
    assert len(provider.requests) == 3 and len(provider.accepted) == 1
    msg = await store.get("phone-code:1")
    assert msg is not None and msg.status == "sent" and msg.attempts == 3


BAD_TEMPLATE = {"aliyun": "isv.SMS_TEMPLATE_ILLEGAL", "tencent": "FailedOperation.TemplateIncorrectOrUnapproved"}
BAD_SIGN = {"aliyun": "isv.SMS_SIGNATURE_ILLEGAL", "tencent": "FailedOperation.SignatureIncorrectOrUnapproved"}
BAD_KEY = {"aliyun": "SignatureDoesNotMatch", "tencent": "AuthFailure.SignatureFailure"}
BAD_NUMBER = {"aliyun": "isv.MOBILE_NUMBER_ILLEGAL", "tencent": "InvalidParameterValue.IncorrectPhoneNumber"}


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
@pytest.mark.parametrize("case", ["bad_template", "bad_sign_name", "wrong_key", "bad_number"])
async def test_refusals_are_classified_and_never_retried_blindly(start: Start, kind: str, case: str) -> None:
    kw: dict[str, Any] = {}
    script: list[str] = []
    if case == "bad_template":
        script = [BAD_TEMPLATE[kind]]
    elif case == "bad_sign_name":
        kw["sign_name"] = "某某学院"  # not the approved signature: the provider says so
    elif case == "wrong_key":
        kw["secret"] = "a-secret-the-provider-does-not-know"
    else:
        script = [BAD_NUMBER[kind]]
    provider, sender, store, clock = await start(kind, script, **kw)
    await enqueue_code(store, clock)
    assert await sender.run_once() == 0
    msg = await store.get("phone-code:1")
    expected_code = {"bad_template": BAD_TEMPLATE, "bad_sign_name": BAD_SIGN, "wrong_key": BAD_KEY,
                     "bad_number": BAD_NUMBER}[case][kind]
    assert msg is not None and msg.status == "failed" and expected_code in msg.last_error
    assert msg.error_class == ("give_up" if case == "bad_number" else "misconfigured")
    clock.advance(86400)
    assert await sender.run_once() == 0
    assert len(provider.requests) == 1 and provider.accepted == []


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
async def test_a_timeout_leaves_the_message_unknown_and_unsent_again(start: Start, kind: str) -> None:
    provider, sender, store, clock = await start(kind, ["hang"])
    await enqueue_code(store, clock)
    assert await sender.run_once() == 0
    msg = await store.get("phone-code:1")
    assert msg is not None and (msg.status, msg.error_class) == ("unknown", "unknown")
    assert "may have been sent" in msg.last_error
    clock.advance(86400)
    assert await sender.run_once() == 0
    assert len(provider.requests) == 1  # never resent by itself: the provider may have sent it
    assert await store.retry("phone-code:1", to_unix(clock.now()))  # an admin decides
    assert await sender.run_once() == 1
    assert len(provider.accepted) == 1


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
async def test_provider_down_is_retried(start: Start, kind: str) -> None:
    provider, sender, store, clock = await start(kind)
    assert provider.server is not None
    await provider.server.close()  # nothing listens: the request never left
    await enqueue_code(store, clock)
    assert await sender.run_once() == 0
    msg = await store.get("phone-code:1")
    assert msg is not None and (msg.status, msg.error_class) == ("pending", "retry")


def test_start_up_refuses_a_provider_without_a_template_for_every_message(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text("""
[sms]
gateway = "aliyun"
sign_name = "某某大学"
[sms.aliyun]
access_key_id = "LTAI5t"
access_key_secret = "secret"
[sms.templates.phone_code]
code = "SMS_1"
params = ["code", "minutes"]
[sms.templates.application_approved]
code = "SMS_2"
params = ["name", "date"]
[sms.templates.application_rejected]
code = "SMS_3"
params = ["name", "reason"]
[sms.templates.checkin_abnormal]
code = "SMS_4"
params = ["name", "temperature"]
""", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_server_config(path)
    assert "templates.checkin_reminder.code is not set" in err.value.message
    assert "templates.checkin_abnormal.params ['temperature']" in err.value.message
    path.write_text('[sms]\ngateway = "tencent"\nsign_name = "某某大学"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_server_config(path)
    assert "tencent.secret_id, tencent.secret_key, tencent.sdk_app_id" in err.value.message


async def test_phone_binding_through_a_provider_and_the_admin_page_shows_failures(
        datadir: DataDir, clock: FakeClock, aiohttp_client: Callable[..., Awaitable[TestClient]],
        aiohttp_server: Callable[..., Awaitable[TestServer]]) -> None:
    provider = FakeProvider("tencent", ["ok", BAD_TEMPLATE["tencent"]])
    fake = web.Application()
    fake.router.add_post("/", provider.handle)
    provider.server = await aiohttp_server(fake)
    config = ServerConfig(sms=sms_config("tencent", provider.url))
    app = create_app(datadir, clock=clock, config=config, hasher=PasswordHasher(FAST_TEST_PARAMS),
                     run_sms_sender=False, sms_gateway=TencentGateway(config.sms, clock), run_jobs=False)
    client = await aiohttp_client(app)
    await add_person(app, "A1", role="school_admin", department=None)
    # First login: the phone code reaches the phone through the template; the person types it in.
    r = await client.post("/api/v1/auth/login", json={"username": "A1", "password": "12345X"})
    assert r.status == 200
    r = await client.post("/api/v1/auth/password", json={"old_password": "12345X", "new_password": "correct-horse-9"})
    assert r.status == 200
    assert (await client.post("/api/v1/auth/phone/code", json={"phone": "13800138000"})).status == 200
    await app[state.SERVICES].sms_sender.run_once()
    sent = provider.accepted[-1]["body"]
    assert sent["TemplateId"] == "1001" and sent["PhoneNumberSet"] == ["+8613800138000"]
    code, minutes = sent["TemplateParamSet"]
    assert re.fullmatch(r"[0-9]{6}", code) and minutes == "5"
    r = await client.post("/api/v1/auth/phone/verify", json={"phone": "13800138000", "code": code})
    assert r.status == 200, await r.text()
    async with app[state.SERVICES].db.transaction() as conn:
        await SmsOutboxStore.enqueue(conn, message_id="application_approved:9", phone="13800138001", body="x",
                                     purpose="application_approved", now_s=to_unix(clock.now()),
                                     params={"name": "张三", "date": "2026-03-05"})
    await app[state.SERVICES].sms_sender.run_once()
    page = await (await client.get("/admin/sms")).text()
    assert "FailedOperation.TemplateIncorrectOrUnapproved" in page
    assert "配置有误" in page and "服务商控制台" in page
    r = await client.get("/metrics")
    assert 'campuspass_sms_failures_total{outcome="misconfigured",provider="tencent"} 1.0' in await r.text()
