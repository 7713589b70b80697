"""The server's typed configuration (``DATA/server.toml``), strict: unknown keys are refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
class ServerConfig:
    """Everything ``campuspass server run`` reads from ``server.toml``."""

    host: str = "127.0.0.1"
    port: int = 8080
    passes: PassConfig = field(default_factory=PassConfig)
    keys: KeyConfig = field(default_factory=KeyConfig)


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
"""
