"""Configuration that cannot work is refused at start, not discovered per request.

``campuspass server check-config --data DIR`` prints every problem of ``server.toml`` (and the
data directory it belongs to); ``campuspass server run`` runs the same check before it listens
and refuses to start on any problem. :func:`load_server_config` already refuses unknown keys and
wrong types; this module checks the values that parse but cannot work together (docs/architecture.md,
"Start-up checks"):

=================================== ==========================================================
key                                 expected
=================================== ==========================================================
``port``                            0–65535 (0: any free port)
``passes.campus_groups``            1–3 group names (the pass format's scope limit), each a
                                    non-blank name of at most 64 characters, no repeats
``passes.checkin_deadline``         ``HH:MM``
``passes.sweep_interval_s``         > 0
``passes.visitor_max_hours``        > 0
``passes.abnormal_hold_cleared_by`` ``"counsellor"`` or ``"counsellor_or_later_checkin"``
``reminders.auto_at``               ``HH:MM``
``*_interval_s``, ``max_attempts``  > 0
``sms.url``                         an ``http://`` or ``https://`` URL when ``gateway = "http"``
``workflow.sms_*``                  only the placeholders ``{sender} {name} {number} {date}
                                    {reason} {phone} {stage}``
``auth.*_after``                    "slow" before "block", both > 0
=================================== ==========================================================
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime

from server.config import ABNORMAL_HOLD_CLEARED_BY, ServerConfig, load_server_config
from server.datadir import DataDir, DataDirError
from shared.campus_time import parse_hhmm
from shared.errors import CampusPassError, ConfigError
from shared.pass_format import MAX_SCOPES

SMS_FIELDS = frozenset({"sender", "name", "number", "date", "reason", "phone", "stage"})
"""The placeholders the SMS templates may use."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One value that cannot work: the dotted key, the bad value (as written) and what is expected."""

    key: str
    value: str
    expected: str

    def __str__(self) -> str:
        return f"{self.key} = {self.value}: expected {self.expected}"


def config_problems(config: ServerConfig) -> list[ConfigProblem]:
    """Every problem of ``config`` (empty when it can work), in the order of the table above."""
    out: list[ConfigProblem] = []

    def bad(key: str, value: object, expected: str) -> None:
        out.append(ConfigProblem(key, repr(value) if isinstance(value, str) else str(value), expected))

    if not 0 <= config.port <= 65535:
        bad("port", config.port, "0-65535")
    groups = config.passes.campus_groups
    if not 1 <= len(groups) <= MAX_SCOPES:
        bad("passes.campus_groups", groups, f"1 to {MAX_SCOPES} building group names (every pass needs a scope)")
    for name in groups:
        if not name.strip() or len(name) > 64:
            bad("passes.campus_groups", name, "a group name of 1-64 characters")
    if len(set(groups)) != len(groups):
        bad("passes.campus_groups", groups, "no group named twice")
    for key, text in (("passes.checkin_deadline", config.passes.checkin_deadline),
                      ("reminders.auto_at", config.reminders.auto_at)):
        try:
            parse_hhmm(text)
        except ValueError:
            bad(key, text, "HH:MM (Asia/Shanghai)")
    if config.passes.abnormal_hold_cleared_by not in ABNORMAL_HOLD_CLEARED_BY:
        bad("passes.abnormal_hold_cleared_by", config.passes.abnormal_hold_cleared_by,
            " or ".join(f'"{v}"' for v in ABNORMAL_HOLD_CLEARED_BY))
    positive = {
        "passes.sweep_interval_s": config.passes.sweep_interval_s,
        "passes.visitor_max_hours": config.passes.visitor_max_hours,
        "workflow.expiry_interval_s": config.workflow.expiry_interval_s,
        "workflow.checkin_retention_days": config.workflow.checkin_retention_days,
        "reminders.check_interval_s": config.reminders.check_interval_s,
        "sms.max_attempts": config.sms.max_attempts,
        "sms.timeout_s": config.sms.timeout_s,
        "auth.session_hours": config.auth.session_hours,
    }
    for key, value in positive.items():
        if value <= 0:
            bad(key, value, "more than 0")
    if config.sms.gateway == "http" and not config.sms.url.startswith(("http://", "https://")):
        bad("sms.url", config.sms.url, 'an http:// or https:// URL (sms.gateway = "http")')
    for key in ("sms_approved", "sms_rejected", "sms_abnormal", "sms_checkin_reminder", "sms_checkin_reminder_staff"):
        template = str(getattr(config.workflow, key))
        problem = _template_problem(template)
        if problem:
            bad(f"workflow.{key}", template, problem)
    auth = config.auth
    for kind in ("account", "address"):
        slow, block = getattr(auth, f"{kind}_slow_after"), getattr(auth, f"{kind}_block_after")
        if not 0 < slow < block:
            bad(f"auth.{kind}_slow_after", slow, f"more than 0 and less than auth.{kind}_block_after ({block})")
    return out


def _template_problem(template: str) -> str:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        return f"a valid template ({exc})"
    unknown = sorted(fields - SMS_FIELDS)
    if unknown:
        return f"only the placeholders {', '.join('{' + f + '}' for f in sorted(SMS_FIELDS))} (not {unknown})"
    return ""


def check_data_dir(datadir: DataDir, now: datetime) -> list[ConfigProblem]:
    """Problems of the data directory the server would run on: not initialised, or no issuer
    key that can sign a pass now (every pass page would answer "pass unavailable").

    Raises:
        ConfigError: ``server.toml`` does not parse (unknown key, wrong type).
    """
    out: list[ConfigProblem] = []
    try:
        datadir.require_initialised()
    except DataDirError as exc:
        return [ConfigProblem("data directory", str(datadir.root), f"made by 'campuspass init' ({exc.message})")]
    problems = config_problems(load_server_config(datadir.config_path))
    try:
        datadir.current_signer(now)
    except CampusPassError as exc:
        out.append(ConfigProblem("issuer key", "none valid now", f"a current issuer key ({exc.message}); "
                                 "run: campuspass provision rotate-issuer"))
    return problems + out


def require_workable(datadir: DataDir, now: datetime) -> ServerConfig:
    """The configuration of ``datadir`` when it can work.

    Raises:
        ConfigError: code ``bad_config``, naming every problem (key, bad value, what is expected).
    """
    problems = check_data_dir(datadir, now)
    if problems:
        raise ConfigError(f"{datadir.config_path.name} cannot work: " + "; ".join(str(p) for p in problems))
    return load_server_config(datadir.config_path)
