"""What door decisions and node anomalies say to a person, in Chinese and English.

Scans store a reason code (:class:`shared.decision.Reason`) and anomalies a kind and an English
sentence for the log; pages show these texts instead (:func:`reason_text`, :func:`anomaly_text`).
"""

from __future__ import annotations

import re

REASONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "not_campus_pass": "不是本校通行码", "unsupported_version": "通行码版本不受支持", "malformed": "通行码已损坏",
        "unknown_key": "签发密钥未知", "issuer_not_valid": "签发密钥已失效", "bad_signature": "签名无效（伪造或被改动）",
        "not_yet_valid": "尚未生效", "expired": "已过期", "stale_trust": "门禁信任数据过旧", "revoked": "已吊销",
        "not_cleared": "尚未确认到校（黑码）", "out_of_scope": "无权进入此楼栋", "outside_hours": "不在开放时间",
        "accepted": "通过",
    },
    "en": {
        "not_campus_pass": "not a campus pass", "unsupported_version": "unsupported pass version",
        "malformed": "damaged pass", "unknown_key": "unknown issuer key", "issuer_not_valid": "issuer key not valid",
        "bad_signature": "bad signature (forged or altered)", "not_yet_valid": "not yet valid", "expired": "expired",
        "stale_trust": "door's trust data too old", "revoked": "revoked", "not_cleared": "arrival not confirmed (black pass)",
        "out_of_scope": "not allowed in this building", "outside_hours": "outside opening hours", "accepted": "accepted",
    },
}

KINDS: dict[str, dict[str, str]] = {
    "zh-CN": {"chain_gap": "记录缺失", "bad_link": "记录链断开", "bad_hash": "记录被改动", "clock_skew": "时钟偏差",
              "impossible_travel": "不可能的行程", "admitted_revoked": "吊销后放行"},
    "en": {"chain_gap": "records missing", "bad_link": "broken chain", "bad_hash": "altered record",
           "clock_skew": "clock skew", "impossible_travel": "impossible travel",
           "admitted_revoked": "admitted while revoked"},
}

_TRAVEL = re.compile(r"accepted at (\S+) and (\S+) (\d+) s apart \(minimum (\d+) s\); scans (\S+), (\S+)$")
_REVOKED = re.compile(r"scan (\S+) admitted a pass (-?\d+) s after the server revoked (its serial|every pass)"
                      r".* \(revocation list v(\d+)\)")
_SKEW = re.compile(r"node clock ([+-]?\d+) s from server time \(bound ±(\d+) s\)")


def reason_text(lang: str, code: str) -> str:
    """The reason of a door decision as a person reads it (the code itself when unknown)."""
    return REASONS.get(lang, REASONS["en"]).get(code) or REASONS["en"].get(code) or code


def kind_text(lang: str, kind: str) -> str:
    """The name of an anomaly kind."""
    return KINDS.get(lang, KINDS["en"]).get(kind) or kind


def anomaly_text(lang: str, kind: str, detail: str, seq_from: int | None, seq_to: int | None) -> str:
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
    return kind_text(lang, kind)
