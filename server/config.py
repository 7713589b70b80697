"""The server's typed configuration (``DATA/server.toml``), strict: unknown keys are refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared.config import from_mapping, load_toml


@dataclass(frozen=True)
class PassConfig:
    """Pass issuance.

    Attributes:
        checkin_deadline: local (Asia/Shanghai) ``HH:MM``; a pass expires at the next day's
            deadline (ARCHITECTURE §3).
        visitor_max_hours: longest visitor pass ``campuspass pass issue`` will sign (hours).
    """

    checkin_deadline: str = "12:00"
    visitor_max_hours: int = 72


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
class AuthConfig:
    """Sessions and login throttling (ARCHITECTURE §10).

    Attributes:
        session_hours: a session lasts this long after its last use (hours).
        cookie_secure: mark cookies Secure (set true behind HTTPS).
        account_slow_after: failures of one account before each further try must wait ``slow_wait_s``.
        account_block_after: failures of one account before it is blocked for ``block_s``.
        address_slow_after / address_block_after: the same per client address (higher: campus NAT).
        slow_wait_s: wait between tries while slowed (seconds).
        block_s: length of a block after the last failure (seconds).
        forget_after_s: failures older than this are forgotten (seconds).
    """

    session_hours: int = 14 * 24
    cookie_secure: bool = False
    account_slow_after: int = 5
    account_block_after: int = 10
    address_slow_after: int = 30
    address_block_after: int = 100
    slow_wait_s: int = 30
    block_s: int = 900
    forget_after_s: int = 86400


@dataclass(frozen=True)
class SmsConfig:
    """The SMS gateway.

    Attributes:
        gateway: ``file`` (append JSON lines to DATA/sms-outbox.jsonl) or ``http``.
        url: the HTTP gateway's endpoint (POST JSON {id, phone, body}).
        token: bearer token for the HTTP gateway ("" for none).
        timeout_s: per-request timeout (seconds).
        retries: immediate retries of one send, with exponential backoff from ``backoff_s``.
        backoff_s: first retry delay (seconds).
        max_attempts: outbox attempts before a message is marked failed.
        sender_name: signature prefixed to every message, e.g. 【某某大学】.
    """

    gateway: Literal["file", "http"] = "file"
    url: str = ""
    token: str = ""
    timeout_s: float = 5.0
    retries: int = 2
    backoff_s: float = 0.5
    max_attempts: int = 12
    sender_name: str = "【校园通行】"


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``campuspass server run`` reads from ``server.toml``."""

    host: str = "127.0.0.1"
    port: int = 8080
    passes: PassConfig = field(default_factory=PassConfig)
    keys: KeyConfig = field(default_factory=KeyConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)


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

[keys]
issuer_valid_days = 400
rotation_overlap_hours = 48

[auth]
session_hours = 336
cookie_secure = false
account_slow_after = 5
account_block_after = 10
address_slow_after = 30
address_block_after = 100
slow_wait_s = 30
block_s = 900

[sms]
# "file" appends to sms-outbox.jsonl in the data directory; "http" POSTs to url.
gateway = "file"
url = ""
timeout_s = 5.0
retries = 2
"""
