"""Page texts of the dashboards (zh-CN first, English). :func:`install` adds them to
:data:`server.web.i18n.MESSAGES` without replacing any existing key."""

from __future__ import annotations

from server.web import i18n

ZH: dict[str, str] = {
    "dashboard_title": "辅导员工作台", "school_dashboard_title": "学校防控工作台", "dashboard_link": "进入工作台",
    "progress_title": "今日打卡进度", "expected": "应打卡", "done_count": "已打卡", "not_yet": "未打卡",
    "abnormal_count": "异常", "rate": "打卡率", "dash_missing_title": "今日未打卡名单", "remind": "提醒",
    "dash_remind_all": "一键提醒全部未打卡人员", "reminded": "已提醒", "reminded_auto": "已自动提醒",
    "reminders_title": "今日已提醒", "reminders_sent": "提醒短信已发送（每人每天最多一条）。",
    "sent_count": "本次发送", "no_missing": "今日全部已打卡。", "and_more": "另有 {n} 人未列出，请导出名单查看。",
    "dept_queue_title": "待院系审核的返校申请", "open_review": "查看详情 / 驳回",
    "approved_title": "已批准未到校", "confirm_arrival": "确认到校", "no_approved": "暂无已批准未到校的学生。",
    "exports": "导出", "export_missing": "今日未打卡名单（CSV）", "export_applications": "返校申请（CSV）",
    "export_arrivals": "到校记录（CSV）", "from_day": "开始日期", "to_day": "结束日期", "download": "下载",
    "today_figures": "今日各院系打卡情况", "trend_title": "近 14 天", "rate_by_department": "各院系打卡率",
    "rate_by_day": "每日打卡率", "abnormal_by_day": "每日异常人数", "applications_by_state": "返校申请（按状态）",
    "arrivals_by_day": "每日到校人数", "passes_by_status": "通行码状态", "scans_by_hour": "各楼宇每小时刷码次数",
    "school_queue_title": "待学校审批的返校申请", "planned_by": "计划返校不晚于", "all_departments": "全部院系",
    "day": "日期", "count": "人数", "building": "楼宇", "scans": "刷码", "accepted": "通过", "by": "操作人",
    "auto": "自动", "manual": "手动", "kind": "方式", "time": "时间", "total": "合计",
    "dash_pass_none": "无", "dash_pass_black": "黑码（待到校）", "dash_pass_green": "绿码", "dash_pass_hold": "暂停",
    "department_scope": "无权查看其他院系的人员或数据。", "figures_as_of": "统计时间（每分钟更新）",
}

EN: dict[str, str] = {
    "dashboard_title": "Counsellor dashboard", "school_dashboard_title": "School dashboard",
    "dashboard_link": "Open the dashboard", "progress_title": "Today's check-ins", "expected": "Expected",
    "done_count": "Done", "not_yet": "Not yet", "abnormal_count": "Abnormal", "rate": "Rate",
    "dash_missing_title": "Not checked in today", "remind": "Remind", "dash_remind_all": "Remind everyone not yet checked in",
    "reminded": "Reminded", "reminded_auto": "Reminded automatically", "reminders_title": "Reminded today",
    "reminders_sent": "Reminders sent (at most one per person per day).", "sent_count": "Sent now",
    "no_missing": "Everyone has checked in today.", "and_more": "{n} more not listed; download the list.",
    "dept_queue_title": "Applications awaiting the department", "open_review": "Details / reject",
    "approved_title": "Approved, not yet arrived", "confirm_arrival": "Confirm arrival",
    "no_approved": "Nobody approved is waiting to arrive.", "exports": "Exports",
    "export_missing": "Not checked in today (CSV)", "export_applications": "Return applications (CSV)",
    "export_arrivals": "Arrivals (CSV)", "from_day": "From", "to_day": "To", "download": "Download",
    "today_figures": "Today by department", "trend_title": "Last 14 days", "rate_by_department": "Check-in rate by department",
    "rate_by_day": "Check-in rate per day", "abnormal_by_day": "Abnormal check-ins per day",
    "applications_by_state": "Return applications by state", "arrivals_by_day": "Arrivals per day",
    "passes_by_status": "Passes by status", "scans_by_hour": "Door scans per building and hour",
    "school_queue_title": "Applications awaiting the school", "planned_by": "Planned return by",
    "all_departments": "All departments", "day": "Day", "count": "Count", "building": "Building", "scans": "Scans",
    "accepted": "Accepted", "by": "By", "auto": "automatic", "manual": "manual", "kind": "How", "time": "Time",
    "total": "Total", "dash_pass_none": "None", "dash_pass_black": "Black (not arrived)", "dash_pass_green": "Green",
    "dash_pass_hold": "On hold", "department_scope": "You may not see other departments' people or figures.",
    "figures_as_of": "Figures as of (updated every minute)",
}


def texts(lang: str) -> dict[str, str]:
    """The dashboard texts of ``lang`` (English for an unknown language)."""
    return ZH if lang == "zh-CN" else EN


def install() -> None:
    """Add these texts to the page catalogue (existing keys are kept)."""
    for lang, catalogue_texts in (("zh-CN", ZH), ("en", EN)):
        catalogue = i18n.MESSAGES.setdefault(lang, {})
        for key, text in catalogue_texts.items():
            catalogue.setdefault(key, text)
