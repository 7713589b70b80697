"""The text catalogue: one TOML file per language with the same keys, a text for every machine
code people see (so no code is ever shown raw), and a clear refusal of a damaged file."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from server.sms_templates import PURPOSES
from server.storage.applications import AppState
from server.storage.audit import ACTIONS
from server.storage.enrolment import TokenState
from server.storage.pass_status import Status
from server.storage.scans import ANOMALY_KINDS
from server.storage.sms import SMS_STATUSES
from server.web.catalogue import CATALOGUE_DIR, LANGS, Catalogue
from shared.decision import Reason
from shared.errors import ConfigError

TEXTS = Catalogue.load()

CODES: dict[str, list[str]] = {
    "scan reason": [f"scan_reason.{r.value}" for r in Reason],
    "SMS purpose": [f"sms_purpose.{p}" for p in PURPOSES],
    "SMS status": [f"sms_status.{s}" for s in SMS_STATUSES],
    "audit action": [f"audit_action.{a}" for a in sorted(ACTIONS)],
    "anomaly kind": [f"anomaly_kind.{k}" for k in ANOMALY_KINDS],
    "pass status": [f"{prefix}{s.value}" for s in Status for prefix in ("pass_status_", "status_", "dash_pass_")],
    "application state": [f"state_{s.value}" for s in AppState],
    "enrolment token state": [f"enrol.{s}" for s in get_args(TokenState)],
}


def test_every_language_has_the_same_keys() -> None:
    zh, en = (set(TEXTS.texts[lang]) for lang in LANGS)
    assert sorted(zh - en) == [] and sorted(en - zh) == []
    assert all(text.strip() for lang in LANGS for text in TEXTS.texts[lang].values())


@pytest.mark.parametrize("family", sorted(CODES))
@pytest.mark.parametrize("lang", LANGS)
def test_every_machine_code_has_a_text(lang: str, family: str) -> None:
    missing = [key for key in CODES[family] if key not in TEXTS.texts[lang]]
    assert missing == []


def test_codes_are_shown_in_words() -> None:
    assert TEXTS.reason_text("zh-CN", "not_cleared") == "尚未确认到校（黑码）"
    assert TEXTS.purpose_text("zh-CN", "login_code") == "登录验证码"
    assert TEXTS.sms_status_text("en", "sending", 2) == "sending (2 attempts)"
    assert TEXTS.kind_text("zh-CN", "chain_epoch") == "节点数据库被替换"
    # a code no version knows yet still shows (as itself), and a missing Chinese text shows in English
    assert TEXTS.reason_text("zh-CN", "made_up") == "made_up"
    partial = Catalogue({"zh-CN": {}, "en": {"login": "Log in"}})
    assert partial.text("zh-CN", "login") == "Log in"


def test_the_catalogue_is_read_from_the_package() -> None:
    assert sorted(p.name for p in CATALOGUE_DIR.glob("*.toml")) == sorted(f"{lang}.toml" for lang in LANGS)


@pytest.mark.parametrize(("content", "expected"), [
    ('login = "登录"\n[nodes]\nkind = 3\n', "nodes.kind is int, expected a text in quotes"),
    ('login = "登录\n', "zh-CN.toml"),
])
def test_a_damaged_file_is_refused_with_its_name(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "en.toml").write_text('login = "Log in"\n', encoding="utf-8")
    (tmp_path / "zh-CN.toml").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        Catalogue.load(tmp_path)


def test_a_missing_file_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "zh-CN.toml").write_text('login = "登录"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="en.toml"):
        Catalogue.load(tmp_path)


def test_how_long_to_wait_is_said_in_the_page_language() -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from server.web import state
    from server.web.accounts import wait_text

    app = web.Application()
    app[state.TEXTS] = TEXTS
    en = make_mocked_request("GET", "/login", app=app, headers={"Cookie": "cp_lang=en"})
    zh = make_mocked_request("GET", "/login", app=app)
    assert [wait_text(en, s) for s in (40, 60, 61)] == ["40 seconds", "1 minute", "2 minutes"]
    assert [wait_text(zh, s) for s in (40, 60, 61)] == ["40 秒", "1 分钟", "2 分钟"]
    assert wait_text(zh, 0) == wait_text(zh, None) == wait_text(zh, True) == ""
