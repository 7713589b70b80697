"""Page texts of tracing and occupancy (zh-CN first, English). :func:`install` adds them to
:data:`server.web.i18n.MESSAGES` without replacing any existing key."""

from __future__ import annotations

from server.web import i18n

ZH: dict[str, str] = {
    "tracing_title": "密接排查（同楼宇共处查询）", "tracing_intro":
        "仅限学校防控管理员使用。每次查询都会连同查询理由记入审计日志；请仅为疫情防控目的、在必要范围内查询。",
    "tracing_number": "被查询人学号 / 工号", "tracing_from": "开始（日期或时间，默认 14 天前）",
    "tracing_to": "结束（默认现在）", "tracing_min_overlap": "最少共处时间（分钟）",
    "tracing_reason": "查询理由（必填，记入审计日志）", "tracing_run": "查询", "tracing_csv": "导出 CSV",
    "tracing_stays": "行程（楼宇停留）", "tracing_contacts": "共处人员（按合计共处时间排序）",
    "tracing_by_department": "按院系汇总", "tracing_no_stays": "该时段内没有此人的进楼记录。",
    "tracing_no_contacts": "没有达到共处时间阈值的人员。", "tracing_period": "查询时段",
    "tracing_clamped": "时段已截至最早保留的通行记录（通行记录按规定期限删除）。",
    "entered_at": "进入", "left_at": "离开", "minutes": "分钟", "overlap_min": "共处（分钟）",
    "stays_count": "次数", "unidentified": "访客等无法对应人员的通行码",
    "ended_exit": "刷卡离开", "ended_default_stay": "按默认停留时长估计", "ended_cut_off": "未刷卡离开（按上限截止）",
    "ended_open": "仍在楼内", "began_inferred": "（无进入记录，按默认停留时长推算）",
    "unknown_person": "没有此学号 / 工号的人员。",
    "occupancy_title": "楼宇在楼人数", "occupancy_intro":
        "仅统计设有出口门禁的楼宇：进入后未刷卡离开的人员计为在楼，超过截止时长未离开的不再计入。数据随门禁节点同步更新，节点离线期间的通行记录在其恢复同步后才计入。",
    "inside_now": "在楼人数", "capacity": "容量上限", "newest_scan": "最新通行记录", "node_seen": "节点最早同步",
    "over_capacity": "超出容量", "occupancy_today": "今日每小时在楼人数", "set_capacity": "设置",
    "capacity_hint": "留空表示不设上限", "capacity_saved": "容量上限已保存。", "no_exit_buildings":
        "还没有设有出口门禁的楼宇。", "occupancy_alert": "以下楼宇在楼人数超过容量上限：",
    "presence_card_title": "防控：在楼人数与密接排查", "open_occupancy": "在楼人数", "open_tracing": "密接排查",
    "never": "从未",
}

EN: dict[str, str] = {
    "tracing_title": "Contact tracing (shared buildings)", "tracing_intro":
        "School prevention-office admins only. Every query is recorded in the audit log with its reason; query"
        " only for epidemic prevention and only as far as necessary.",
    "tracing_number": "Student / staff number of the person", "tracing_from": "From (day or time; default 14 days ago)",
    "tracing_to": "To (default now)", "tracing_min_overlap": "Least time together (minutes)",
    "tracing_reason": "Reason (required, kept in the audit log)", "tracing_run": "Search", "tracing_csv": "Export CSV",
    "tracing_stays": "Stays in buildings", "tracing_contacts": "Contacts (most time together first)",
    "tracing_by_department": "By department", "tracing_no_stays": "No building entries of this person in the period.",
    "tracing_no_contacts": "Nobody overlapped by the minimum time.", "tracing_period": "Period",
    "tracing_clamped": "The period was cut at the oldest scan kept (scans are deleted after the retention period).",
    "entered_at": "Entered", "left_at": "Left", "minutes": "min", "overlap_min": "Together (min)",
    "stays_count": "Stays", "unidentified": "passes of no person (visitors)",
    "ended_exit": "badged out", "ended_default_stay": "default stay assumed", "ended_cut_off":
        "never badged out (cut off)", "ended_open": "still inside", "began_inferred": "(no entry scan; default stay assumed)",
    "unknown_person": "Nobody has this number.",
    "occupancy_title": "People in buildings", "occupancy_intro":
        "Buildings with exit doors only: someone who entered and has not badged out is inside, up to the cut-off."
        " Figures follow the door nodes' syncs; scans of an offline node count once it syncs again.",
    "inside_now": "Inside now", "capacity": "Capacity", "newest_scan": "Newest scan", "node_seen": "Oldest node sync",
    "over_capacity": "over capacity", "occupancy_today": "People inside per hour today", "set_capacity": "Set",
    "capacity_hint": "empty: no limit", "capacity_saved": "Capacity saved.",
    "no_exit_buildings": "No building has exit doors yet.", "occupancy_alert": "These buildings are over capacity:",
    "presence_card_title": "Prevention: occupancy and contact tracing", "open_occupancy": "Occupancy",
    "open_tracing": "Contact tracing", "never": "never",
}


def install() -> None:
    """Add these texts to the page catalogue (existing keys are kept)."""
    for lang, catalogue_texts in (("zh-CN", ZH), ("en", EN)):
        catalogue = i18n.MESSAGES.setdefault(lang, {})
        for key, text in catalogue_texts.items():
            catalogue.setdefault(key, text)
