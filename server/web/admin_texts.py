"""What the admin pages say about SMS messages and audit entries, in Chinese and English.

The outbox stores a purpose and a status, the audit log an action and a JSON detail; pages show
these as words (:func:`purpose_text`, :func:`sms_status_text`, :func:`action_text`,
:func:`detail_text`) and never as the stored codes. An unknown code falls back to English,
then to itself, so a new kind of entry still shows.
"""

from __future__ import annotations

from typing import Any

from shared.campus_time import local
from shared.clock import from_unix

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
        "action_application_dept_approve": "院系审核通过", "action_application_dept_reject": "院系驳回",
        "action_application_school_approve": "学校审核通过", "action_application_school_reject": "学校驳回",
        "action_application_revoke": "撤销返校申请", "action_pass_hold": "暂停通行", "action_pass_hold_cleared": "解除暂停",
        "action_pass_revoke": "撤销通行码", "action_pass_dormitory": "设置宿舍楼栋组", "action_building_add": "新增楼栋",
        "action_building_group_set": "设置楼栋组规则", "action_node_enrolled": "门禁节点入网",
        "action_enrolment_token_created": "创建入网令牌", "action_enrolment_token_cancelled": "作废入网令牌",
        "action_node_enabled": "启用门禁节点", "action_node_disabled": "停用门禁节点", "action_doctor_repair": "修复通行状态",
        # more detail fields
        "role": "身份", "reason": "原因", "application_id": "申请编号", "code": "代码", "name": "名称", "group": "楼栋组",
        "allowed_statuses": "准入状态", "hours": "开放时间", "node_id": "节点", "token_id": "令牌编号",
        "expires_at_s": "失效时间", "software_version": "软件版本", "public_key": "公钥", "view": "查看内容",
        "from_ms": "开始", "to_ms": "结束", "min_overlap_min": "最少重叠（分钟）", "found": "找到此人", "stays": "停留次数",
        "contacts": "同时在场人数", "before_ms": "早于", "retention_days": "保留天数", "differences": "差异", "status": "状态",
        "state": "新状态", "all_missing": "提醒全部未打卡者", "reminded": "已提醒", "departments": "院系",
        # values: roles, application states, pass statuses, what was viewed
        "student": "学生", "staff": "教职工", "counsellor": "辅导员", "school_admin": "学校管理员", "system_admin": "系统管理员",
        "submitted": "已提交", "dept_approved": "院系已通过", "dept_rejected": "院系驳回", "approved": "已通过",
        "school_rejected": "学校驳回", "arrived": "已到校", "withdrawn": "已撤回", "expired": "已过期", "revoked": "已撤销",
        "green": "绿码", "black": "黑码", "hold": "暂停通行", "pass_status": "通行状态",
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
        "action_application_dept_approve": "department approved", "action_application_dept_reject": "department rejected",
        "action_application_school_approve": "school approved", "action_application_school_reject": "school rejected",
        "action_application_revoke": "return application revoked", "action_pass_hold": "pass put on hold",
        "action_pass_hold_cleared": "hold cleared", "action_pass_revoke": "passes revoked",
        "action_pass_dormitory": "dormitory group set", "action_building_add": "building added",
        "action_building_group_set": "building group rules set", "action_node_enrolled": "door node enrolled",
        "action_enrolment_token_created": "enrolment token created",
        "action_enrolment_token_cancelled": "enrolment token cancelled", "action_node_enabled": "door node enabled",
        "action_node_disabled": "door node disabled", "action_doctor_repair": "pass status repaired",
        "role": "role", "reason": "reason", "application_id": "application", "code": "code", "name": "name",
        "group": "group", "allowed_statuses": "admitted statuses", "hours": "opening hours", "node_id": "node",
        "token_id": "token", "expires_at_s": "expires", "software_version": "software version", "public_key": "public key",
        "view": "viewed", "from_ms": "from", "to_ms": "to", "min_overlap_min": "minimum overlap (minutes)",
        "found": "person found", "stays": "stays", "contacts": "people present", "before_ms": "before",
        "retention_days": "days kept", "differences": "differences", "status": "status",
        "state": "new state", "all_missing": "everyone not checked in", "reminded": "reminded", "departments": "departments",
        "student": "student", "staff": "staff", "counsellor": "counsellor", "school_admin": "school admin",
        "system_admin": "system admin", "submitted": "submitted", "dept_approved": "department approved",
        "dept_rejected": "department rejected", "approved": "approved", "school_rejected": "school rejected",
        "arrived": "arrived", "withdrawn": "withdrawn", "expired": "expired", "revoked": "revoked",
        "green": "green", "black": "black", "hold": "on hold", "pass_status": "pass status",
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


def _field(lang: str, key: str, value: Any) -> str:
    """One detail value: instants (keys ending ``_ms`` or ``_at_s``) in Asia/Shanghai time, keys
    shortened to their first characters, everything else through :func:`_value`."""
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith(("_ms", "_at_s")):
        return local(from_unix(value / 1000 if key.endswith("_ms") else value)).strftime("%Y-%m-%d %H:%M")
    if key == "public_key" and isinstance(value, str):
        return value[:8] + "…"
    return _value(lang, value)


def detail_text(lang: str, detail: dict[str, Any]) -> str:
    """An audit entry's detail as ``label: value`` pairs in ``lang`` (``类型：未打卡名单；行数：3``)."""
    sep, colon = ("；", "：") if lang != "en" else ("; ", ": ")
    return sep.join(f"{text(lang, k, k)}{colon}{_field(lang, k, v)}" for k, v in detail.items())
