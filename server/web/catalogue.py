"""The text catalogue: every word the pages show, one TOML file per language (``server/texts/``).

``zh-CN.toml`` (the default language) and ``en.toml`` hold the same keys, one text a line: adding
a text is one line in each. Top-level keys are page texts (templates call ``t("key")``; error codes
double as keys). Tables hold the texts of machine codes, read as ``table.code``: ``scan_reason``
(:class:`shared.decision.Reason`), ``anomaly_kind``, ``sms_purpose``, ``sms_status``,
``audit_action``, ``audit_detail`` (the names and values of an audit entry's detail), and the
wording of pages that say some words their own way (``nodes``, ``enrol``).

The app factory loads the catalogue once (:meth:`Catalogue.load`, kept under ``app[state.TEXTS]``);
nothing adds texts at import time. A missing text falls back to English, then to a fallback the
caller gives, then to the key itself (a test pins that every machine code has a text in both
languages, so codes are never shown raw).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.campus_time import local
from shared.clock import from_unix
from shared.errors import ConfigError

LANGS = ("zh-CN", "en")
"""The languages of the pages; the first is the default."""
DEFAULT_LANG = "zh-CN"
CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "texts"
"""Where ``<lang>.toml`` of each language is (installed with the package)."""

_TRAVEL = re.compile(r"accepted at (\S+) and (\S+) (\d+) s apart \(minimum (\d+) s\); scans (\S+), (\S+)$")
_REVOKED = re.compile(r"scan (\S+) admitted a pass (-?\d+) s after the server revoked (its serial|every pass)"
                      r".* \(revocation list v(\d+)\)")
_SKEW = re.compile(r"node clock ([+-]?\d+) s from server time \(bound ±(\d+) s\)")


def _flatten(table: Mapping[str, Any], prefix: str, path: Path) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}.", path))
        elif isinstance(value, str):
            flat[prefix + key] = value
        else:
            raise ConfigError(f"{path}: {prefix}{key} is {type(value).__name__}, expected a text in quotes")
    return flat


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The texts of every language: ``texts[lang][key]`` (keys of tables as ``table.key``)."""

    texts: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, folder: Path = CATALOGUE_DIR) -> Catalogue:
        """Read ``<lang>.toml`` of every language in :data:`LANGS` from ``folder``.

        Raises:
            ConfigError: a file is missing, is not TOML, or holds something other than texts.
        """
        texts: dict[str, dict[str, str]] = {}
        for lang in LANGS:
            path = folder / f"{lang}.toml"
            try:
                with path.open("rb") as f:
                    texts[lang] = _flatten(tomllib.load(f), "", path)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"text catalogue {path}: {exc}") from exc
        return cls(texts)

    def get(self, lang: str, key: str) -> str | None:
        """The text of ``key`` in ``lang``, else in English, else None."""
        return self.texts.get(lang, {}).get(key) or self.texts["en"].get(key)

    def text(self, lang: str, key: str, fallback: str | None = None) -> str:
        """The text of ``key`` in ``lang`` (English, then ``fallback`` or the key when missing)."""
        return self.get(lang, key) or fallback or key

    def has(self, key: str) -> bool:
        """Whether the catalogue knows ``key`` (in English, which every key has)."""
        return key in self.texts["en"]

    # -- machine codes -----------------------------------------------------------------------

    def reason_text(self, lang: str, code: str) -> str:
        """The reason of a door decision as a person reads it."""
        return self.text(lang, "scan_reason." + code, code)

    def kind_text(self, lang: str, kind: str) -> str:
        """The name of a node anomaly kind."""
        return self.text(lang, "anomaly_kind." + kind, kind)

    def anomaly_text(self, lang: str, kind: str, detail: str, seq_from: int | None, seq_to: int | None) -> str:
        """An anomaly's sentence in ``lang`` (the stored English sentence for English)."""
        if lang == "en":
            return detail
        if kind == "chain_gap" and seq_from is not None:
            return f"节点日志缺少第 {seq_from}–{seq_to} 条记录"
        if kind == "bad_hash" and seq_from is not None:
            return f"第 {seq_from} 条记录与其哈希不符：记录在节点上被改动过"
        if kind == "bad_link" and seq_from is not None:
            return f"第 {seq_from} 条记录未接上前一条记录"
        m = _TRAVEL.search(detail)
        if kind == "impossible_travel" and m:
            a, b, gap, least, s1, s2 = m.groups()
            return f"同一人的通行码先后在 {a} 和 {b} 通过，间隔 {gap} 秒（至少应间隔 {least} 秒）；记录 {s1}、{s2}"
        m = _REVOKED.search(detail)
        if kind == "admitted_revoked" and m:
            scan, after, what, version = m.groups()
            whom = "该通行码" if what == "its serial" else "持码人此前签发的全部通行码"
            return (f"离线门禁在服务器吊销{whom}之后 {after} 秒仍放行了它（吊销列表第 {version} 版，门禁当时尚未同步）；"
                    f"记录 {scan}")
        m = _SKEW.search(detail)
        if kind == "clock_skew" and m:
            return f"节点时钟与服务器相差 {m.group(1)} 秒（允许 ±{m.group(2)} 秒）"
        return self.kind_text(lang, kind)

    def purpose_text(self, lang: str, purpose: str) -> str:
        """What an SMS was for."""
        return self.text(lang, "sms_purpose." + purpose, purpose)

    def sms_status_text(self, lang: str, status: str, attempts: int) -> str:
        """An SMS's state with its attempts: ``已发送（已尝试 1 次）``."""
        return self.text(lang, "sms_status." + status, status) + \
            self.text(lang, "sms_attempts_n").replace("{n}", str(attempts))

    def action_text(self, lang: str, action: str) -> str:
        """What an audited action was."""
        return self.text(lang, "audit_action." + action, action)

    def detail_text(self, lang: str, detail: dict[str, Any]) -> str:
        """An audit entry's detail as ``label: value`` pairs in ``lang`` (``类型：未打卡名单；行数：3``):
        instants (keys ending ``_ms`` or ``_at_s``) in Asia/Shanghai time, a public key shortened,
        known words translated."""
        sep, colon = ("；", "：") if lang != "en" else ("; ", ": ")
        return sep.join(f"{self.text(lang, 'audit_detail.' + k, k)}{colon}{self._field(lang, k, v)}"
                        for k, v in detail.items())

    def _field(self, lang: str, key: str, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and key.endswith(("_ms", "_at_s")):
            return local(from_unix(value / 1000 if key.endswith("_ms") else value)).strftime("%Y-%m-%d %H:%M")
        if key == "public_key" and isinstance(value, str):
            return value[:8] + "…"
        return self._value(lang, value)

    def _value(self, lang: str, value: Any) -> str:
        if isinstance(value, bool):
            return "✓" if value else "✗"
        if isinstance(value, list):
            return ("、" if lang != "en" else ", ").join(self._value(lang, v) for v in value)
        if isinstance(value, dict):
            return self.detail_text(lang, value)
        if value is None:
            return self.text(lang, "audit_detail.none")
        if isinstance(value, str) and self.has("audit_detail." + value):
            return self.text(lang, "audit_detail." + value)
        return str(value)
