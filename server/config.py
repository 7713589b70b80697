"""The server's typed configuration (``DATA/server.toml``), strict: unknown keys are refused."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from server.sms_templates import PURPOSE_FIELDS
from shared.config import from_mapping, load_toml


@dataclass(frozen=True)
class PassConfig:
    """Pass issuance.

    Attributes:
        checkin_deadline: local (Asia/Shanghai) ``HH:MM``; a pass expires at the next day's
            deadline (docs/architecture.md §3).
        visitor_max_hours: longest visitor pass ``campuspass pass issue`` will sign (hours).
        campus_groups: building groups (by name) every pass scope carries; a dormitory
            resident's pass also carries their dormitory group (at most 3 groups in all).
        sweep_interval_s: how often the missed check-in job runs (seconds).
        abnormal_hold_cleared_by: who lifts the hold an abnormal check-in puts a person on
            (one of :data:`ABNORMAL_HOLD_CLEARED_BY`): ``"counsellor"`` (default: a counsellor
            or school admin only) or ``"counsellor_or_later_checkin"`` (also a normal check-in
            on a later day). Editing the same day's answers back to normal never lifts it.
    """

    checkin_deadline: str = "12:00"
    visitor_max_hours: int = 72
    campus_groups: list[str] = field(default_factory=lambda: ["campus"])
    sweep_interval_s: int = 300
    abnormal_hold_cleared_by: str = "counsellor"


ABNORMAL_HOLD_CLEARED_BY = ("counsellor", "counsellor_or_later_checkin")
"""The values of ``[passes] abnormal_hold_cleared_by`` (``server check-config`` refuses others)."""


@dataclass(frozen=True)
class KeyConfig:
    """Issuer key lifetimes.

    Attributes:
        issuer_valid_days: validity of a new issuer certificate (days).
        rotation_overlap_hours: a rotated key is published this long before it signs.
    """

    issuer_valid_days: int = 400
    rotation_overlap_hours: int = 48


@dataclass(frozen=True)
class LdapConfig:
    """Login against the university's LDAP directory (docs/login.md).

    Attributes:
        enabled: check the login form's number and password against the directory.
        url: ``ldap://host:389`` or ``ldaps://host:636``.
        start_tls: upgrade an ``ldap://`` connection with StartTLS.
        user_dn: bind straight to this DN, ``{username}`` replaced (escaped), e.g.
            ``uid={username},ou=people,dc=example,dc=edu,dc=cn``; or
        search_base / search_filter: find the person's DN first (``{username}`` replaced,
            escaped), binding as ``bind_dn`` / ``bind_password`` (a read-only service account).
        number_attribute: the attribute holding the roster number (default: the user name is
            the number), e.g. ``employeeNumber``.
        timeout_s: connect and answer timeout (seconds).
        ca_file: PEM file of the CA that signed the directory's certificate (default: the
            system's CA certificates); the certificate is always verified for ldaps:// and
            StartTLS.
    """

    enabled: bool = False
    url: str = ""
    start_tls: bool = False
    ca_file: str = ""
    user_dn: str = ""
    search_base: str = ""
    search_filter: str = "(uid={username})"
    bind_dn: str = ""
    bind_password: str = ""
    number_attribute: str = ""
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.enabled:
            return
        if not self.url.startswith(("ldap://", "ldaps://")):
            raise ValueError(f"ldap.url = {self.url!r}; expected ldap://host[:port] or ldaps://host[:port]")
        if bool(self.user_dn) == bool(self.search_base):
            raise ValueError("ldap needs exactly one of user_dn or search_base")
        template = self.user_dn or self.search_filter
        if "{username}" not in template:
            raise ValueError(f"ldap: {template!r} does not contain {{username}}")
        if not 0 < self.timeout_s <= 60:
            raise ValueError(f"ldap.timeout_s = {self.timeout_s}; expected 0 < seconds <= 60")


@dataclass(frozen=True)
class CasConfig:
    """Single sign-on through the university's CAS server, protocol 3.0 (docs/login.md).

    Attributes:
        enabled: show "sign in with the university account" and accept CAS tickets.
        server_url: the CAS server's prefix, e.g. ``https://cas.example.edu.cn/cas``
            (``/login`` and ``/p3/serviceValidate`` are below it).
        service_url: this server's callback as registered at CAS, ending in ``/login/cas``,
            e.g. ``https://campuspass.example.edu.cn/login/cas``.
        number_attribute: the released attribute holding the roster number (default: the CAS
            user is the number).
        timeout_s: ticket validation timeout (seconds).
    """

    enabled: bool = False
    server_url: str = ""
    service_url: str = ""
    number_attribute: str = ""
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.enabled:
            return
        for name in ("server_url", "service_url"):
            if not getattr(self, name).startswith(("http://", "https://")):
                raise ValueError(f"cas.{name} = {getattr(self, name)!r}; expected an http(s) URL")
        if not self.service_url.split("?")[0].endswith("/login/cas"):
            raise ValueError(f"cas.service_url = {self.service_url!r}; expected this server's .../login/cas")


@dataclass(frozen=True)
class AuthConfig:
    """Sessions and login throttling (docs/architecture.md §10).

    Attributes:
        session_hours: a session lasts this long after its last use (hours).
        cookie_secure: mark cookies Secure (set true behind HTTPS).
        account_slow_after: failures of one account from one address before each further try from
            there must wait ``slow_wait_s``.
        account_block_after: failures of one account from one address before that pair is blocked
            for ``block_s``.
        account_total_block_after: failures of one account from all addresses together before
            password-only logins to it are blocked for ``block_s`` (the owner then logs in with a
            one-time SMS code).
        address_slow_after / address_block_after: the same per client address (higher: campus NAT).
        slow_wait_s: wait between tries while slowed (seconds).
        block_s: length of a block after the last failure (seconds).
        forget_after_s: failures older than this are forgotten (seconds).
        trusted_proxies: addresses of reverse proxies in front of the server; for requests from
            them the client address is taken from ``X-Forwarded-For`` (throttling, audit log).
        password_login: the built-in password login (roster initial password, then the
            person's own); when false only system admins (made on the command line) use it and
            everyone else signs in through ``ldap`` or ``cas``.
        ldap / cas: the university's login (docs/login.md).
    """

    session_hours: int = 14 * 24
    cookie_secure: bool = False
    account_slow_after: int = 5
    account_block_after: int = 10
    account_total_block_after: int = 30
    address_slow_after: int = 30
    address_block_after: int = 100
    slow_wait_s: int = 30
    block_s: int = 900
    forget_after_s: int = 86400
    trusted_proxies: list[str] = field(default_factory=list)
    password_login: bool = True
    ldap: LdapConfig = field(default_factory=LdapConfig)
    cas: CasConfig = field(default_factory=CasConfig)

    def __post_init__(self) -> None:
        if not (self.password_login or self.ldap.enabled or self.cas.enabled):
            raise ValueError("password_login = false with neither ldap nor cas enabled leaves no way to log in")


@dataclass(frozen=True)
class SmsTemplate:
    """One message's template at a template provider (Alibaba Cloud, Tencent Cloud).

    Attributes:
        code: the template code (Alibaba Cloud ``SMS_123456789``) or id (Tencent Cloud ``1110``).
        params: which of the message's values fill the template, in order (server.sms_templates
            lists the values of each message), e.g. ``["code", "minutes"]``.
        names: the template's own variable names for them (Alibaba Cloud ``${name}``; default:
            the same as ``params``). Tencent Cloud templates are positional (``{1}``, ``{2}``) and
            take ``params`` in order.
    """

    code: str = ""
    params: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.names and len(self.names) != len(self.params):
            raise ValueError(f"names {self.names} must name each of params {self.params}")

    def variables(self) -> list[tuple[str, str]]:
        """``(template variable, message value)`` pairs, in order."""
        return list(zip(self.names or self.params, self.params, strict=True))


@dataclass(frozen=True)
class SmsTemplates:
    """The template of each message (``[sms.templates.<purpose>]``)."""

    phone_code: SmsTemplate = field(default_factory=SmsTemplate)
    login_code: SmsTemplate = field(default_factory=SmsTemplate)
    application_approved: SmsTemplate = field(default_factory=SmsTemplate)
    application_rejected: SmsTemplate = field(default_factory=SmsTemplate)
    checkin_abnormal: SmsTemplate = field(default_factory=SmsTemplate)
    checkin_reminder: SmsTemplate = field(default_factory=SmsTemplate)

    def of(self, purpose: str) -> SmsTemplate | None:
        """The template of ``purpose`` (None: not a message campuspass sends)."""
        value = getattr(self, purpose, None) if purpose in PURPOSE_FIELDS else None
        return value if isinstance(value, SmsTemplate) else None


@dataclass(frozen=True)
class AliyunSmsConfig:
    """Alibaba Cloud SMS (dysmsapi, SendSms, RPC signature HMAC-SHA1).

    Attributes:
        access_key_id / access_key_secret: a RAM user's AccessKey allowed ``dysms:SendSms``.
        endpoint: the API endpoint.
        region: the RegionId parameter.
    """

    access_key_id: str = ""
    access_key_secret: str = ""
    endpoint: str = "https://dysmsapi.aliyuncs.com/"
    region: str = "cn-hangzhou"


@dataclass(frozen=True)
class TencentSmsConfig:
    """Tencent Cloud SMS (SendSms 2021-01-11, TC3-HMAC-SHA256 signature).

    Attributes:
        secret_id / secret_key: a CAM key allowed ``sms:SendSms``.
        sdk_app_id: the SMS application's SdkAppId (``1400...``).
        endpoint: the API endpoint.
        region: the X-TC-Region header (``ap-guangzhou``, ``ap-beijing`` or ``ap-nanjing``).
    """

    secret_id: str = ""
    secret_key: str = ""
    sdk_app_id: str = ""
    endpoint: str = "https://sms.tencentcloudapi.com/"
    region: str = "ap-guangzhou"


@dataclass(frozen=True)
class SmsConfig:
    """The SMS gateway (docs/sms.md).

    Attributes:
        gateway: ``file`` (append JSON lines to DATA/sms-outbox.jsonl), ``http`` (a generic
            JSON endpoint taking the full text), ``aliyun`` or ``tencent`` (templates).
        url: the HTTP gateway's endpoint (POST JSON {id, phone, body}).
        token: bearer token for the HTTP gateway ("" for none).
        timeout_s: per-request timeout (seconds).
        retries: immediate retries of one send by the HTTP gateway, with exponential backoff
            from ``backoff_s`` (the template providers are retried by the outbox only).
        backoff_s: first retry delay (seconds).
        max_attempts: outbox attempts before a message is marked failed.
        sender_name: signature prefixed to every full-text message, e.g. 【某某大学】.
        sign_name: the signature name approved at the template provider (without 【】), e.g. 某某大学.
        aliyun / tencent: the provider's credentials.
        templates: the template of each message (template providers only).

    Raises (at load, as ConfigError): a template provider without credentials, sign name or a
    template for every message, or a template naming values its message does not have.
    """

    gateway: Literal["file", "http", "aliyun", "tencent"] = "file"
    url: str = ""
    token: str = ""
    timeout_s: float = 5.0
    retries: int = 2
    backoff_s: float = 0.5
    max_attempts: int = 12
    sender_name: str = "【校园通行】"
    sign_name: str = ""
    aliyun: AliyunSmsConfig = field(default_factory=AliyunSmsConfig)
    tencent: TencentSmsConfig = field(default_factory=TencentSmsConfig)
    templates: SmsTemplates = field(default_factory=SmsTemplates)

    def __post_init__(self) -> None:
        if self.gateway not in ("aliyun", "tencent"):
            return
        missing = []
        if self.gateway == "aliyun":
            a = self.aliyun
            missing += [f"aliyun.{k}" for k, v in (("access_key_id", a.access_key_id),
                                                  ("access_key_secret", a.access_key_secret)) if not v]
        else:
            t = self.tencent
            missing += [f"tencent.{k}" for k, v in (("secret_id", t.secret_id), ("secret_key", t.secret_key),
                                                   ("sdk_app_id", t.sdk_app_id)) if not v]
        if not self.sign_name:
            missing.append("sign_name")
        if missing:
            raise ValueError(f"gateway {self.gateway!r} needs {', '.join(missing)}")
        problems = []
        for purpose, offered in PURPOSE_FIELDS.items():
            tpl = self.templates.of(purpose)
            if tpl is None or not tpl.code:
                problems.append(f"templates.{purpose}.code is not set")
                continue
            unknown = [p for p in tpl.params if p not in offered]
            if unknown:
                problems.append(f"templates.{purpose}.params {unknown} are not values of this message; "
                                f"it offers {list(offered)}")
        if problems:
            raise ValueError(f"every message needs its {self.gateway} template: " + "; ".join(problems))


@dataclass(frozen=True)
class ConfirmationTexts:
    """The four confirmations a return application needs (docs/architecture.md §2.3), versioned.

    The wording changes with policy: change ``version`` whenever a text changes. Each
    application stores the version and the texts it was submitted with.

    Attributes:
        version: label of this wording, e.g. ``2026-1``.
        no_risk_area / no_case_contact / no_symptoms / not_quarantined: the texts (zh-CN).
    """

    version: str = "2026-1"
    no_risk_area: str = "本人近 14 天内未在中、高风险地区停留。"
    no_case_contact: str = "本人近 14 天内未接触确诊、疑似病例、无症状感染者及其密切接触者。"
    no_symptoms: str = "本人及共同居住人近 14 天内无发热、咳嗽等呼吸道症状。"
    not_quarantined: str = "本人目前未处于隔离或医学观察期。"


@dataclass(frozen=True)
class WorkflowConfig:
    """Daily check-in and return applications (docs/architecture.md §2.2–§2.4, §3).

    Attributes:
        prevention_office_phone: shown when a return application cannot be submitted.
        application_horizon_days: the planned return date may be today up to this many days ahead.
        expiry_grace_days: an application not decided or not arrived by planned date + this many
            days (end of that day, Asia/Shanghai) expires.
        expiry_interval_s: how often the background job looks for expired applications (seconds).
        notify_counsellors_by_sms: also text counsellors about an abnormal check-in (they always
            see it in their list).
        checkin_retention_days: check-ins older than this many days are deleted by the
            background job (docs/architecture.md §10, retention).
        sms_approved / sms_rejected / sms_abnormal / sms_checkin_reminder / sms_checkin_reminder_staff: SMS
            templates (students are addressed as 同学, staff as 老师; ``str.format`` fields:
            ``{sender}``, ``{name}``, ``{number}``, ``{date}``, ``{stage}``, ``{reason}``, ``{phone}``).
        confirmations: the current confirmation texts.
    """

    prevention_office_phone: str = "010-12345678"
    application_horizon_days: int = 30
    expiry_grace_days: int = 2
    expiry_interval_s: int = 300
    notify_counsellors_by_sms: bool = True
    checkin_retention_days: int = 180
    sms_approved: str = ("{sender}{name}同学，您的返校申请已通过学校审批。请按计划于 {date} 返校，"
                         "每日完成健康打卡，到校后持通行码找辅导员扫码确认到校。")
    sms_rejected: str = ("{sender}{name}同学，您的返校申请未通过{stage}审核，理由：{reason}。"
                         "您可以修改后重新提交，如有疑问请致电防控办 {phone}。")
    sms_abnormal: str = "{sender}{name}（{number}）今日健康打卡有异常情况，请及时联系跟进。"
    sms_checkin_reminder: str = "{sender}{name}同学，您今天（{date}）尚未完成健康打卡，请尽快登录完成。"
    sms_checkin_reminder_staff: str = "{sender}{name}老师，您今天（{date}）尚未完成健康打卡，请尽快登录完成。"
    confirmations: ConfirmationTexts = field(default_factory=ConfirmationTexts)


@dataclass(frozen=True)
class SyncServerConfig:
    """Door node sync (docs/architecture.md §8; docs/sync-protocol.md).

    Attributes:
        timestamp_window_s: a signed node request's timestamp must be within ± this many
            seconds of the server clock; nonces are remembered this long (seconds).
        max_batch: most records one upload may carry.
        online_within_s: a node seen within this many seconds is ``online`` (fleet page).
        silent_after_s: a node not seen for longer is ``offline`` and flagged silent
            (between the two: ``late``).
        skew_bound_s: a node clock further than this from the server's is an anomaly (seconds).
        travel_min_s: the same pass accepted at two different buildings less than this many
            seconds apart is an anomaly (walking cannot be that fast).
        repeat_window_s: an entry admitted less than this many seconds after an earlier entry
            of the same person (at any door, no exit between) is flagged as a repeated entry.
        skew_correct_min_s: a node clock measured at least this many seconds from the server's
            has the times of its clock-based scans corrected by that skew; below it the
            measurement is within its own error (the time a request takes to build and send).
    """

    timestamp_window_s: int = 300
    max_batch: int = 1000
    online_within_s: int = 120
    silent_after_s: int = 3600
    skew_bound_s: int = 60
    travel_min_s: int = 180
    repeat_window_s: int = 300
    skew_correct_min_s: int = 2

    def __post_init__(self) -> None:
        for name in ("timestamp_window_s", "max_batch", "online_within_s", "silent_after_s", "skew_bound_s",
                     "travel_min_s", "repeat_window_s", "skew_correct_min_s"):
            value = getattr(self, name)
            if not 0 <= value <= 366 * 86400:
                raise ValueError(f"sync.{name} = {value}; expected 0..{366 * 86400}")


@dataclass(frozen=True)
class ReminderConfig:
    """Check-in reminders by SMS (counsellor dashboard, issue 9; docs/dashboards.md).

    Attributes:
        auto: send the daily automatic reminder.
        auto_at: local (Asia/Shanghai) ``HH:MM`` after which everyone expected to check in who
            has not yet done so gets one SMS (at most one reminder per person per check-in day,
            manual or automatic).
        check_interval_s: how often the app looks whether the automatic reminder is due (seconds).

    The SMS text is ``[workflow] sms_checkin_reminder`` (one text for every reminder path).
    """

    auto: bool = True
    auto_at: str = "14:00"
    check_interval_s: int = 60


@dataclass(frozen=True)
class MetricsConfig:
    """Who may read ``/metrics`` (docs/monitoring.md).

    A scrape is answered when the client address (after ``auth.trusted_proxies``) is in
    ``allow``, or when it carries ``Authorization: Bearer <token>`` and ``token`` is set.

    Attributes:
        allow: addresses or networks (``10.1.2.3``, ``10.0.0.0/8``, ``::1``); default loopback only.
        token: bearer token for scrapers elsewhere ("": none accepted).
        recent_scans_window_s: scans decided within this many seconds are counted by verdict
            and reason in ``campuspass_scans_recent`` (the bad_signature share alert).
    """

    allow: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    token: str = ""
    recent_scans_window_s: int = 900

    def __post_init__(self) -> None:
        for entry in self.allow:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"allow: {entry!r} is not an address or network ({exc})") from None
        if self.token and len(self.token) < 16:
            raise ValueError("token is shorter than 16 characters; use a long random token")


@dataclass(frozen=True)
class PresenceConfig:
    """Stays, co-presence tracing, occupancy and scan retention (issue 19; docs/tracing.md).

    Attributes:
        default_stay_min: a stay at a building with only entry doors lasts this long after the
            entry (minutes); also the stay assumed before an exit with no entry.
        open_stay_h: an entry with no exit counts as inside for at most this long (hours): the
            cut-off for people who never badged out (occupancy and tracing alike).
        min_overlap_min: default least overlap with a stay of the person queried for someone
            to be a contact (minutes).
        tracing_days: default tracing period, ending now (days).
        scan_retention_days: scans older than this are deleted (days; longer than
            ``tracing_days``: tracing never reads beyond what is kept).
        retention_interval_s: how often the retention job runs (seconds).
        mask_numbers_in_export: mask student/staff numbers in the tracing CSV export.
    """

    default_stay_min: int = 60
    open_stay_h: int = 16
    min_overlap_min: int = 15
    tracing_days: int = 14
    scan_retention_days: int = 28
    retention_interval_s: int = 3600
    mask_numbers_in_export: bool = False

    def __post_init__(self) -> None:
        for name in ("default_stay_min", "open_stay_h", "min_overlap_min", "tracing_days", "scan_retention_days",
                     "retention_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"presence.{name} = {getattr(self, name)}; expected > 0")
        if self.open_stay_h * 60 < self.default_stay_min:
            raise ValueError(f"presence.open_stay_h = {self.open_stay_h} is shorter than default_stay_min"
                             f" = {self.default_stay_min} minutes; expected at least as long")
        if self.open_stay_h * 60 + self.default_stay_min > 24 * 60:
            raise ValueError(f"presence.open_stay_h = {self.open_stay_h} h plus default_stay_min ="
                             f" {self.default_stay_min} min exceeds a day; expected at most 24 h together"
                             " (a scan is linked to the previous one of the same person for a day)")
        if self.scan_retention_days < self.tracing_days:
            raise ValueError(f"presence.scan_retention_days = {self.scan_retention_days} is shorter than"
                             f" tracing_days = {self.tracing_days}; expected at least as long")


@dataclass(frozen=True)
class DatabaseConfig:
    """Where the server keeps its data (docs/deploy.md).

    Attributes:
        url: empty (the default): the SQLite file ``campuspass.db`` in the data directory, one server
            process. ``postgresql://user:password@host:port/dbname`` (libpq URL): a PostgreSQL server,
            which several server processes may share.
    """

    url: str = ""

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("postgresql://", "postgres://")):
            scheme = self.url.split("://", 1)[0] if "://" in self.url else self.url[:12]
            raise ValueError(f"url starts with {scheme!r}; expected postgresql://user@host:port/dbname,"
                             " or empty for the data directory's SQLite file")


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``campuspass server run`` reads from ``server.toml``."""

    host: str = "127.0.0.1"
    port: int = 8080
    passes: PassConfig = field(default_factory=PassConfig)
    keys: KeyConfig = field(default_factory=KeyConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    sync: SyncServerConfig = field(default_factory=SyncServerConfig)
    workflow: WorkflowConfig = field(default_factory=WorkflowConfig)
    reminders: ReminderConfig = field(default_factory=ReminderConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    presence: PresenceConfig = field(default_factory=PresenceConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)


def load_server_config(path: Path) -> ServerConfig:
    """Read ``server.toml``; a missing file gives the defaults.

    Raises:
        ConfigError: unknown key or wrong type (names the dotted key).
    """
    if not path.exists():
        return from_mapping(ServerConfig, {})
    return load_toml(path, ServerConfig)


DEFAULT_SERVER_TOML = """\
# campuspass server configuration. Unknown keys are refused.
host = "127.0.0.1"
port = 8080

[passes]
# Passes expire at the next day's check-in deadline, Asia/Shanghai local time.
checkin_deadline = "12:00"
visitor_max_hours = 72
# Who lifts the hold of an abnormal check-in: "counsellor" (a counsellor or school admin), or
# "counsellor_or_later_checkin" (also a normal check-in on a later day). Editing the same day's
# answers back to normal never lifts it.
abnormal_hold_cleared_by = "counsellor"

[keys]
issuer_valid_days = 400
rotation_overlap_hours = 48

[auth]
session_hours = 336
cookie_secure = false
account_slow_after = 5
account_block_after = 10
account_total_block_after = 30
address_slow_after = 30
address_block_after = 100
slow_wait_s = 30
block_s = 900
# Reverse proxies whose X-Forwarded-For is believed, e.g. ["127.0.0.1"].
trusted_proxies = []
# The built-in password login; [auth.ldap] and [auth.cas] add the university's login (docs/login.md).
password_login = true

[sms]
# "file" appends to sms-outbox.jsonl in the data directory; "http" POSTs the text to url;
# "aliyun" and "tencent" send the provider's approved templates (docs/sms.md: [sms.aliyun] or
# [sms.tencent] credentials, sign_name and a [sms.templates.<message>] for every message).
gateway = "file"
url = ""
timeout_s = 5.0
retries = 2

[workflow]
# Shown when a return application cannot be submitted.
prevention_office_phone = "010-12345678"
application_horizon_days = 30
expiry_grace_days = 2

[metrics]
# Prometheus may read /metrics from these addresses or networks, or anywhere with the bearer token.
allow = ["127.0.0.1", "::1"]
token = ""

[reminders]
# One SMS to everyone who has not checked in by this local time (at most one per person per day).
auto = true
auto_at = "14:00"

[presence]
# Stays: entry-only buildings count this long after an entry; an entry never followed by an
# exit counts as inside for at most open_stay_h hours.
default_stay_min = 60
open_stay_h = 16
min_overlap_min = 15
tracing_days = 14
# Scans older than this are deleted (keep it longer than tracing_days).
scan_retention_days = 28

[database]
# Empty: the SQLite file campuspass.db in this directory, one server process. A PostgreSQL server
# instead (several server processes may share it): "postgresql://user:password@host:5432/campuspass"
# (docs/deploy.md).
url = ""
"""
