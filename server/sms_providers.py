"""Template SMS providers: Alibaba Cloud SMS and Tencent Cloud SMS, over their signed HTTP APIs.

Both providers send only pre-approved templates: a template code, an approved signature name
and the template's parameters. Each gateway here turns an outbox message (its purpose and named
values, :mod:`server.sms_templates`) into one signed ``SendSms`` call through httpx and maps the
provider's answer to an outcome (:data:`server.sms.OUTCOMES`): sent, retry, give up,
misconfigured, or unknown when the request went out and no answer came back (the provider may
have sent it; the outbox never resends such a message by itself, so no one gets it twice).

Why the documented HTTP APIs and not the official SDKs (docs/sms.md): each SDK brings its own
HTTP stack and dependency tree (Alibaba's Tea/Darabonba runtime, Tencent's common package over
requests), both block the event loop, and both retry on their own, which would break the
outbox's one-send-per-row rule. The signatures are short, stable algorithms, checked in the
tests against the worked examples the providers publish:

* Alibaba Cloud RPC signature v1 (HMAC-SHA1): "Signature mechanism" of the RPC APIs and the SMS
  "SendSms" request example (AccessKeyId ``testId``, secret ``testSecret``, signature
  ``zJDF+Lrzhj/ThnlvIToysFRq6t4=``).
* Tencent Cloud API signature v3 (TC3-HMAC-SHA256): "Signature v3" (the CVM DescribeInstances
  example at timestamp 1551113065, signature ``72e494ea…5168``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from server.config import SmsConfig, SmsTemplate
from server.sms import SmsError, SmsMessage
from shared.clock import Clock, to_unix

# ---- Alibaba Cloud --------------------------------------------------------------------------

ALIYUN_OUTCOMES: dict[str, str] = {
    # throttling and transient faults: try again later
    "isv.BUSINESS_LIMIT_CONTROL": "retry",
    "isv.DAY_LIMIT_CONTROL": "retry",
    "Throttling": "retry",
    "Throttling.User": "retry",
    "Throttling.Api": "retry",
    "isp.SYSTEM_ERROR": "retry",
    "isp.GATEWAY_ERROR": "retry",
    "ServiceUnavailable": "retry",
    "InternalError": "retry",
    "SignatureNonceUsed": "retry",
    "InvalidTimeStamp.Expired": "retry",
    # this message cannot be delivered
    "isv.MOBILE_NUMBER_ILLEGAL": "give_up",
    "isv.MOBILE_COUNT_OVER_LIMIT": "give_up",
    "isv.BLACK_KEY_CONTROL_LIMIT": "give_up",
    "isv.DENY_IP_RANGE": "misconfigured",
    # nothing can be delivered until an admin acts
    "isv.SMS_TEMPLATE_ILLEGAL": "misconfigured",
    "isv.SMS_SIGNATURE_ILLEGAL": "misconfigured",
    "isv.SMS_SIGN_ILLEGAL": "misconfigured",
    "isv.TEMPLATE_MISSING_PARAMETERS": "misconfigured",
    "isv.TEMPLATE_PARAMS_ILLEGAL": "misconfigured",
    "isv.INVALID_JSON_PARAM": "misconfigured",
    "isv.PARAM_LENGTH_LIMIT": "misconfigured",
    "isv.AMOUNT_NOT_ENOUGH": "misconfigured",
    "isv.OUT_OF_SERVICE": "misconfigured",
    "isv.PRODUCT_UN_SUBSCRIPT": "misconfigured",
    "isv.PRODUCT_UNSUBSCRIBE": "misconfigured",
    "isv.ACCOUNT_NOT_EXISTS": "misconfigured",
    "isv.ACCOUNT_ABNORMAL": "misconfigured",
    "isp.RAM_PERMISSION_DENY": "misconfigured",
    "SignatureDoesNotMatch": "misconfigured",
    "IncompleteSignature": "misconfigured",
    "InvalidAccessKeyId.NotFound": "misconfigured",
    "InvalidAccessKeyId.Inactive": "misconfigured",
    "Forbidden.RAM": "misconfigured",
}
"""Alibaba Cloud SendSms error codes (the SMS API error code list and the common RPC errors) →
outcome. An unlisted ``isv.*`` code gives up on the message; anything else is retried."""


def aliyun_percent_encode(text: str) -> str:
    """RFC 3986 percent-encoding as the RPC signature wants it: only ``A-Z a-z 0-9 - _ . ~``
    stay, a space is ``%20``, ``*`` is ``%2A``, UTF-8 bytes otherwise."""
    return quote(text, safe="~")


def aliyun_string_to_sign(params: Mapping[str, str], method: str = "POST") -> str:
    """``METHOD&%2F&<encoded canonical query>``: parameters (without ``Signature``) sorted by
    name, each ``name=value`` percent-encoded, joined with ``&``, then encoded once more."""
    query = "&".join(f"{aliyun_percent_encode(k)}={aliyun_percent_encode(v)}"
                     for k, v in sorted(params.items()) if k != "Signature")
    return f"{method}&{aliyun_percent_encode('/')}&{aliyun_percent_encode(query)}"


def aliyun_signature(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """Base64(HMAC-SHA1(secret + "&", string to sign)): the ``Signature`` parameter."""
    digest = hmac.new(f"{secret}&".encode(), aliyun_string_to_sign(params, method).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunGateway:
    """Alibaba Cloud SMS ``SendSms`` (API version 2017-05-25), one POST per message.

    Args:
        config: ``[sms]`` with ``gateway = "aliyun"`` (credentials, sign name, templates).
        clock: stamps ``Timestamp`` (the provider refuses requests more than 15 minutes off).
        transport: an httpx transport (None: the network).
        nonce: makes ``SignatureNonce`` (default: a random UUID; tests pass a fixed one).
    """

    name = "aliyun"

    def __init__(self, config: SmsConfig, clock: Clock, *, transport: httpx.AsyncBaseTransport | None = None,
                 nonce: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.config = config
        self.clock = clock
        self._nonce = nonce
        self._client = httpx.AsyncClient(timeout=config.timeout_s, transport=transport)

    def request_params(self, message: SmsMessage) -> dict[str, str]:
        """The signed form parameters of one message.

        Raises:
            SmsError: misconfigured: no template for the message's purpose.
        """
        template = _template(self.config, message)
        a = self.config.aliyun
        params = {
            "AccessKeyId": a.access_key_id, "Action": "SendSms", "Format": "JSON", "RegionId": a.region,
            "SignatureMethod": "HMAC-SHA1", "SignatureNonce": self._nonce(), "SignatureVersion": "1.0",
            "Timestamp": self.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": "2017-05-25",
            "PhoneNumbers": _domestic(message.phone), "SignName": self.config.sign_name,
            "TemplateCode": template.code, "OutId": message.id[:256],
            "TemplateParam": json.dumps({var: message.params.get(field, "") for var, field in template.variables()},
                                        ensure_ascii=False, separators=(",", ":")),
        }
        params["Signature"] = aliyun_signature(params, a.access_key_secret, "POST")
        return params

    async def send(self, message: SmsMessage) -> None:
        """Send one message; raises :class:`SmsError` with its outcome when not sent."""
        params = self.request_params(message)
        resp = await _post(self._client, self.config.aliyun.endpoint, message, data=params)
        try:
            answer = resp.json()
            code = str(answer.get("Code", "")) if isinstance(answer, dict) else ""
            text = str(answer.get("Message", "")) if isinstance(answer, dict) else ""
        except ValueError:
            code, text = "", resp.text[:200]
        if resp.status_code == 200 and code == "OK":
            return
        outcome = ALIYUN_OUTCOMES.get(code) or ("give_up" if code.startswith("isv.") else _http_outcome(resp))
        raise SmsError(f"Alibaba Cloud refused message {message.id}: {code or f'HTTP {resp.status_code}'} {text}",
                       outcome=outcome, provider_code=code)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


# ---- Tencent Cloud --------------------------------------------------------------------------

TENCENT_OUTCOMES: dict[str, str] = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": "retry",
    "LimitExceeded.PhoneNumberOneHourLimit": "retry",
    "LimitExceeded.PhoneNumberDailyLimit": "retry",
    "LimitExceeded.PhoneNumberSameContentDailyLimit": "retry",
    "LimitExceeded.DeliveryFrequencyLimit": "retry",
    "LimitExceeded.AppDailyLimit": "retry",
    "RequestLimitExceeded": "retry",
    "InternalError.Timeout": "retry",
    "InternalError.OtherError": "retry",
    "InternalError": "retry",
    "AuthFailure.SignatureExpire": "retry",
    "InvalidParameterValue.IncorrectPhoneNumber": "give_up",
    "FailedOperation.PhoneNumberInBlacklist": "give_up",
    "FailedOperation.ContainSensitiveWord": "give_up",
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": "give_up",
    "FailedOperation.TemplateIncorrectOrUnapproved": "misconfigured",
    "FailedOperation.SignatureIncorrectOrUnapproved": "misconfigured",
    "FailedOperation.InsufficientBalanceInSmsPackage": "misconfigured",
    "FailedOperation.MissingSignature": "misconfigured",
    "FailedOperation.MissingTemplateToModify": "misconfigured",
    "InvalidParameterValue.TemplateParameterFormatError": "misconfigured",
    "InvalidParameterValue.TemplateParameterLengthLimit": "misconfigured",
    "InvalidParameterValue.SdkAppIdNotExist": "misconfigured",
    "InvalidParameterValue.ContentLengthLimit": "misconfigured",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": "misconfigured",
    "UnauthorizedOperation.RequestIpNotInWhitelist": "misconfigured",
    "UnauthorizedOperation.RequestPermissionDeny": "misconfigured",
    "UnauthorizedOperation.SerivceSuspendDueToArrears": "misconfigured",
    "AuthFailure.SignatureFailure": "misconfigured",
    "AuthFailure.SecretIdNotFound": "misconfigured",
    "AuthFailure.InvalidSecretId": "misconfigured",
    "AuthFailure.UnauthorizedOperation": "misconfigured",
}
"""Tencent Cloud SendSms error codes (the SMS error code list and the common API errors) →
outcome. Anything unlisted is retried."""

TC3_ALGORITHM = "TC3-HMAC-SHA256"


def tc3_canonical_request(payload: str, host: str, content_type: str = "application/json; charset=utf-8",
                          action: str | None = None) -> str:
    """The CanonicalRequest of a POST to ``/`` with the signed headers ``content-type;host``
    (and ``x-tc-action`` when ``action`` is given)."""
    headers = f"content-type:{content_type}\nhost:{host}\n"
    signed = "content-type;host"
    if action is not None:
        headers += f"x-tc-action:{action.lower()}\n"
        signed += ";x-tc-action"
    return "\n".join(["POST", "/", "", headers, signed, hashlib.sha256(payload.encode()).hexdigest()])


def tc3_authorization(secret_id: str, secret_key: str, service: str, host: str, payload: str, timestamp: int,
                      *, content_type: str = "application/json; charset=utf-8", action: str | None = None) -> str:
    """The ``Authorization`` header of a TC3-HMAC-SHA256 signed POST (Tencent Cloud API
    signature v3): the date of the credential scope is the UTC date of ``timestamp`` (Unix s)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    canonical = tc3_canonical_request(payload, host, content_type, action)
    to_sign = "\n".join([TC3_ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()])

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    signing = mac(mac(mac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    signed = "content-type;host" + (";x-tc-action" if action is not None else "")
    return f"{TC3_ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed}, Signature={signature}"


class TencentGateway:
    """Tencent Cloud SMS ``SendSms`` (API version 2021-01-11), one POST per message.

    Args:
        config: ``[sms]`` with ``gateway = "tencent"`` (credentials, SdkAppId, sign name, templates).
        clock: stamps ``X-TC-Timestamp`` (the provider refuses requests more than 5 minutes off).
        transport: an httpx transport (None: the network).
    """

    name = "tencent"

    def __init__(self, config: SmsConfig, clock: Clock, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.clock = clock
        self._client = httpx.AsyncClient(timeout=config.timeout_s, transport=transport)
        self.host = httpx.URL(config.tencent.endpoint).host

    def request(self, message: SmsMessage) -> tuple[dict[str, str], bytes]:
        """``(headers, body)`` of the signed request for one message.

        Raises:
            SmsError: misconfigured: no template for the message's purpose.
        """
        template = _template(self.config, message)
        t = self.config.tencent
        body = json.dumps({
            "PhoneNumberSet": ["+86" + _domestic(message.phone)], "SmsSdkAppId": t.sdk_app_id,
            "SignName": self.config.sign_name, "TemplateId": template.code,
            "TemplateParamSet": [message.params.get(field, "") for _var, field in template.variables()],
            "SessionContext": message.id[:500],
        }, ensure_ascii=False, separators=(",", ":"))
        timestamp = to_unix(self.clock.now())
        content_type = "application/json; charset=utf-8"
        headers = {
            "Authorization": tc3_authorization(t.secret_id, t.secret_key, "sms", self.host, body, timestamp,
                                               content_type=content_type, action="SendSms"),
            "Content-Type": content_type, "Host": self.host, "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp), "X-TC-Version": "2021-01-11", "X-TC-Region": t.region,
        }
        return headers, body.encode()

    async def send(self, message: SmsMessage) -> None:
        """Send one message; raises :class:`SmsError` with its outcome when not sent."""
        headers, body = self.request(message)
        resp = await _post(self._client, self.config.tencent.endpoint, message, content=body, headers=headers)
        code, text = "", ""
        try:
            answer = resp.json().get("Response", {})
            error = answer.get("Error")
            if isinstance(error, dict):
                code, text = str(error.get("Code", "")), str(error.get("Message", ""))
            else:
                (status,) = answer["SendStatusSet"]
                code, text = str(status.get("Code", "")), str(status.get("Message", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            code, text = "", resp.text[:200]
        if resp.status_code == 200 and code == "Ok":
            return
        outcome = TENCENT_OUTCOMES.get(code) or _http_outcome(resp)
        raise SmsError(f"Tencent Cloud refused message {message.id}: {code or f'HTTP {resp.status_code}'} {text}",
                       outcome=outcome, provider_code=code)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


# ---- shared ---------------------------------------------------------------------------------


def _template(config: SmsConfig, message: SmsMessage) -> SmsTemplate:
    template = config.templates.of(message.purpose)
    if template is None or not template.code:
        raise SmsError(f"no [sms.templates.{message.purpose or '?'}] template for message {message.id}",
                       outcome="misconfigured", code="sms_no_template")
    return template


def _domestic(phone: str) -> str:
    """A mainland number as the providers want it: 11 digits, no +86."""
    digits = phone.strip().replace(" ", "").replace("-", "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            return digits[len(prefix):]
    return digits


def _http_outcome(resp: httpx.Response) -> str:
    return "misconfigured" if resp.status_code in (401, 403, 404) else "retry"


async def _post(client: httpx.AsyncClient, url: str, message: SmsMessage, **kwargs: Any) -> httpx.Response:
    """POST, translating transport errors: nothing sent (connect) → retry; sent but no answer → unknown."""
    try:
        return await client.post(url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise SmsError(f"cannot reach the SMS provider for message {message.id}: {type(exc).__name__} {exc}",
                       outcome="retry") from exc
    except httpx.HTTPError as exc:  # read timeout, dropped connection: the request may have been taken
        raise SmsError(f"no answer from the SMS provider for message {message.id} ({type(exc).__name__}); it may "
                       f"have been sent, so it is not sent again automatically", outcome="unknown") from exc
