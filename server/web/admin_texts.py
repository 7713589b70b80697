"""What the admin pages say about SMS messages and audit entries, in Chinese and English.

The outbox stores a purpose and a status, the audit log an action and a JSON detail; pages show
these as words (:func:`purpose_text`, :func:`sms_status_text`, :func:`action_text`,
:func:`detail_text`) and never as the stored codes. An unknown code falls back to English,
then to itself, so a new kind of entry still shows.
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # SMS purposes and states
        "purpose_phone_code": "手机验证码", "purpose_checkin_abnormal": "打卡异常提醒（给辅导员）",
        "purpose_checkin_reminder": "未打卡提醒", "purpose_application_approved": "返校获批通知",
        "purpose_application_rejected": "返校申请驳回通知",
        "sms_pending": "待发送", "sms_sent": "已发送", "sms_failed": "发送失败", "sms_unknown": "结果未知",
        "attempts_n": "（已尝试 {n} 次）",
        # audit actions
        "action_admin_created": "创建管理员", "action_arrival_confirmed": "确认到校", "action_building_capacity": "设置楼栋容量",
        "action_checkin_reminders": "发送未打卡提醒", "action_export": "导出数据", "action_health_view": "查看健康信息",
        "action_password_reset": "重置密码", "action_roster_import": "导入名单", "action_scan_retention": "清理过期通行记录",
        "action_sms_retry": "重发短信", "action_tracing_query": "密接追踪查询", "action_admin_role": "更改管理员身份",
        "action_admin_password": "更改管理员密码",
        # audit detail fields and values
        "kind": "类型", "day": "日期", "from": "开始", "to": "结束", "rows": "行数", "people": "涉及人员", "list": "名单",
        "page": "页面", "id": "编号", "method": "方式", "building": "楼栋", "capacity": "容量", "count": "人数",
        "department": "院系", "created": "新建", "updated": "更新", "skipped": "跳过", "deleted": "删除",
        "missing": "未打卡名单", "applications": "返校申请", "arrivals": "到校记录", "abnormal_checkins": "今日打卡异常名单",
        "review": "返校审批", "photo": "拍照", "text": "粘贴通行码", "list_pick": "名单", "number": "学号",
        "target": "对象", "none": "无",
    },
    "en": {
        "purpose_phone_code": "phone code", "purpose_checkin_abnormal": "abnormal check-in (to the counsellor)",
        "purpose_checkin_reminder": "check-in reminder", "purpose_application_approved": "return approved",
        "purpose_application_rejected": "return application rejected",
        "sms_pending": "waiting", "sms_sent": "sent", "sms_failed": "failed", "sms_unknown": "outcome unknown",
        "attempts_n": " ({n} attempts)",
        "action_admin_created": "admin created", "action_arrival_confirmed": "arrival confirmed",
        "action_building_capacity": "building capacity set", "action_checkin_reminders": "check-in reminders sent",
        "action_export": "data exported", "action_health_view": "health data viewed", "action_password_reset": "password reset",
        "action_roster_import": "roster imported", "action_scan_retention": "old scans deleted", "action_sms_retry": "SMS resent",
        "action_tracing_query": "contact tracing query", "action_admin_role": "admin role changed",
        "action_admin_password": "admin password changed",
        "kind": "kind", "day": "day", "from": "from", "to": "to", "rows": "rows", "people": "people", "list": "list",
        "page": "page", "id": "id", "method": "method", "building": "building", "capacity": "capacity", "count": "count",
        "department": "department", "created": "created", "updated": "updated", "skipped": "skipped", "deleted": "deleted",
        "missing": "not checked in", "applications": "return applications", "arrivals": "arrivals",
        "abnormal_checkins": "abnormal check-ins today", "review": "review", "photo": "photo", "text": "pasted pass",
        "list_pick": "list", "number": "number", "target": "about", "none": "none",
    },
}


def text(lang: str, key: str, fallback: str | None = None) -> str:
    """The text of ``key`` in ``lang`` (English, then ``fallback`` or the key when missing)."""
    return TEXTS.get(lang, {}).get(key) or TEXTS["en"].get(key) or (fallback if fallback is not None else key)


def purpose_text(lang: str, purpose: str) -> str:
    """What an SMS was for."""
    return text(lang, "purpose_" + purpose, purpose)


def sms_status_text(lang: str, status: str, attempts: int) -> str:
    """An SMS's state with its attempts: ``已发送（已尝试 1 次）``."""
    return text(lang, "sms_" + status, status) + text(lang, "attempts_n").replace("{n}", str(attempts))


def action_text(lang: str, action: str) -> str:
    """What an audited action was."""
    return text(lang, "action_" + action, action)


def _value(lang: str, value: Any) -> str:
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, list):
        return "、".join(_value(lang, v) for v in value) if lang != "en" else ", ".join(_value(lang, v) for v in value)
    if isinstance(value, dict):
        return detail_text(lang, value)
    if value is None:
        return text(lang, "none")
    return text(lang, str(value), str(value)) if isinstance(value, str) and str(value) in TEXTS["en"] else str(value)


def detail_text(lang: str, detail: dict[str, Any]) -> str:
    """An audit entry's detail as ``label: value`` pairs in ``lang`` (``类型：未打卡名单；行数：3``)."""
    sep, colon = ("；", "：") if lang != "en" else ("; ", ": ")
    return sep.join(f"{text(lang, k, k)}{colon}{_value(lang, v)}" for k, v in detail.items())
