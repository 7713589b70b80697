"""Page texts of the check-in, return-application and review pages (zh-CN first, English).

:func:`install` adds them to :data:`server.web.i18n.MESSAGES` without replacing any existing
key. Error codes of the workflow double as keys, so refusals are shown translated.
"""

from __future__ import annotations

from server.web import i18n

ZH: dict[str, str] = {
    # check-in
    "checkin_title": "每日健康打卡", "checkin_not_done": "今日尚未打卡", "checkin_done": "今日已打卡",
    "checkin_normal": "今日打卡正常。", "checkin_abnormal_note": "今日打卡有异常情况，辅导员会与你联系；请按要求就医或居家观察。",
    "checkin_now": "去打卡", "checkin_edit": "修改今日打卡", "checkin_saved": "打卡成功。",
    "same_as_yesterday": "与昨日相同，一键打卡", "same_as_yesterday_hint": "如果与昨天相比没有任何变化，可一键提交（记录为\"与昨日相同\"）。",
    "or_fill_in": "或填写今日情况：", "location_kind": "当前所在地", "loc_on_campus": "在校",
    "loc_same_city": "校外（同城）", "loc_other_province": "外省市", "loc_abroad": "境外",
    "region_code": "所在地区（在校可不填）", "temperature_c": "体温（°C）",
    "symptoms": "症状（可多选，没有请选\"无\"）", "sym_none": "无", "sym_fever": "发热", "sym_cough": "咳嗽",
    "sym_sore_throat": "咽痛", "sym_fatigue": "乏力", "sym_shortness_of_breath": "呼吸困难",
    "sym_loss_of_taste_smell": "嗅觉或味觉减退", "sym_diarrhoea": "腹泻", "sym_other": "其他",
    "case_contact_14d": "近 14 天是否接触过确诊或疑似病例", "risk_area_14d": "近 14 天是否在中、高风险地区停留",
    "case_status": "本人健康状况", "cs_none": "健康", "cs_suspected": "疑似病例", "cs_confirmed": "确诊病例",
    "cs_asymptomatic": "无症状感染者", "yes": "是", "no": "否", "remarks": "备注（选填）",
    "attest": "本人承诺以上信息真实、准确、完整", "submit": "提交", "checkin_day": "打卡日期",
    "revisions": "提交次数", "history": "近两周打卡记录", "abnormal": "异常", "normal": "正常",
    # field errors
    "required": "此项必填。", "bad_choice": "选项无效。", "temperature_out_of_range": "体温应在 34.0–42.5 °C 之间。",
    "none_exclusive": "\"无\"不能与其他症状同时选择。", "duplicate": "有重复的选项。",
    "region_not_6_digits": "地区代码应为 6 位数字。", "region_unknown_province": "地区代码前两位不是有效的省级代码。",
    "region_unknown": "没有这个地区，请从列表中选择。",
    "too_long": "内容过长。", "attest_required": "请勾选真实性承诺。", "exclusive": "一键打卡时不能同时填写其他内容。",
    "bad_date": "日期格式应为 YYYY-MM-DD。", "bad_datetime": "时间格式不正确。",
    "arrives_before_departure": "到达时间早于出发时间。", "planned_date_out_of_range": "计划返校日期超出允许范围。",
    "invalid_field": "填写有误，请检查标出的项目。",
    # workflow refusals
    "no_checkin_yesterday": "昨天没有打卡记录，请填写今日情况。",
    "checkin_required": "请先完成今日健康打卡，再申请返校。",
    "confirmation_required": "四项承诺中有无法确认的，不能提交申请。请致电学校防控办咨询：",
    "active_application_exists": "你已有一份进行中的返校申请。", "already_decided": "该申请的这一环节已处理。",
    "dept_stage_pending": "须先由院系审批。", "already_arrived": "已确认到校，不能撤回。",
    "not_active": "该申请已结束。", "not_rejected": "只有被驳回的申请可以修改后重新提交。",
    "already_amended": "该申请已修改并重新提交过。", "not_approved": "申请尚未批准。",
    "illegal_transition": "当前状态下不能进行此操作。", "no_department": "你的账号没有院系信息，请联系信息中心。",
    # application
    "apply_title": "申请返校", "apply_now": "申请返校", "no_application": "尚无进行中的返校申请。",
    "planned_return_date": "计划返校日期", "departure_region_code": "出发地区", "itinerary": "行程",
    "leg": "第 {n} 段", "leg_optional": "（选填，如有中转）", "leg_mode": "交通方式", "mode_rail": "火车 / 高铁",
    "mode_air": "飞机", "mode_coach": "长途客车", "mode_car": "自驾 / 专车", "mode_other": "其他",
    "service_no": "车次 / 航班号", "from_region_code": "出发地", "to_region_code": "到达地",
    "depart_at": "出发时间", "arrive_at": "到达时间", "return_reason": "返校事由",
    "confirmations_title": "近 14 天情况承诺", "confirmations_version": "承诺文本版本",
    "cannot_confirm": "如有任何一项不能承诺，请不要提交，并致电学校防控办：", "application_title": "我的返校申请",
    "application_submitted": "申请已提交，请等待院系审批。", "application_withdrawn": "申请已撤回。",
    "withdraw": "撤回申请", "amend": "修改后重新提交", "progress": "审批进度", "version": "版本",
    "decision_reason": "处理意见", "state_draft": "草稿", "state_submitted": "待院系审批",
    "state_dept_approved": "院系已通过，待学校审批", "state_approved": "已批准，待到校确认",
    "state_arrived": "已到校", "state_dept_rejected": "院系未通过", "state_school_rejected": "学校未通过",
    "state_withdrawn": "已撤回", "state_expired": "已过期", "state_revoked": "已撤销",
    "next_step_approved": "请按计划返校，每日打卡；到校后请找辅导员扫码确认到校。",
    "next_step_rejected": "请根据处理意见修改后重新提交。",
    # review
    "review_title": "返校审批", "review_link": "返校审批", "stage_dept": "院系审批", "stage_school": "学校审批",
    "filter": "筛选", "approve": "通过", "reject": "驳回", "approve_selected": "批量通过所选申请",
    "reject_reason": "驳回理由（必填，学生可见）", "no_pending": "没有符合条件的申请。",
    "abnormal_title": "今日打卡异常人员", "no_abnormal": "今日没有打卡异常的人员。",
    "review_done": "已处理。", "missing_title": "今日未打卡人数", "pending_count": "待我处理的申请", "remind_all": "短信提醒未打卡人员",
    "reminders_sent": "提醒短信已发送（每人每天最多一条）。", "planned": "计划", "applicant": "申请人", "state": "状态",
    "departure_from": "出发地",
}

EN: dict[str, str] = {
    "checkin_title": "Daily health check-in", "checkin_not_done": "Not checked in today", "checkin_done": "Checked in today",
    "checkin_normal": "Today's check-in is normal.",
    "checkin_abnormal_note": "Today's answers need follow-up; your counsellor will contact you.",
    "checkin_now": "Check in now", "checkin_edit": "Edit today's check-in", "checkin_saved": "Check-in saved.",
    "same_as_yesterday": "Same as yesterday (one tap)",
    "same_as_yesterday_hint": "If nothing changed since yesterday, submit with one tap (recorded as such).",
    "or_fill_in": "Or fill in today's answers:", "location_kind": "Where you are now", "loc_on_campus": "On campus",
    "loc_same_city": "Off campus, same city", "loc_other_province": "Another province", "loc_abroad": "Abroad",
    "region_code": "Region (optional on campus)", "temperature_c": "Temperature (°C)",
    "symptoms": "Symptoms (all that apply, or None)", "sym_none": "None", "sym_fever": "Fever", "sym_cough": "Cough",
    "sym_sore_throat": "Sore throat", "sym_fatigue": "Fatigue", "sym_shortness_of_breath": "Shortness of breath",
    "sym_loss_of_taste_smell": "Loss of taste or smell", "sym_diarrhoea": "Diarrhoea", "sym_other": "Other",
    "case_contact_14d": "Contact with a confirmed or suspected case in the last 14 days",
    "risk_area_14d": "Stay in a medium or high-risk area in the last 14 days", "case_status": "Your own status",
    "cs_none": "Healthy", "cs_suspected": "Suspected case", "cs_confirmed": "Confirmed case",
    "cs_asymptomatic": "Asymptomatic infection", "yes": "Yes", "no": "No", "remarks": "Remarks (optional)",
    "attest": "I confirm these answers are true and complete", "submit": "Submit", "checkin_day": "Day",
    "revisions": "Submissions", "history": "The last two weeks", "abnormal": "Abnormal", "normal": "Normal",
    "required": "Required.", "bad_choice": "Not a valid choice.", "temperature_out_of_range": "Temperature must be 34.0–42.5 °C.",
    "none_exclusive": "\"None\" cannot be combined with a symptom.", "duplicate": "A choice is repeated.",
    "region_not_6_digits": "A region code has 6 digits.",
    "region_unknown_province": "The first two digits are not a province-level code.",
    "region_unknown": "No such region: choose one from the list.",
    "too_long": "Too long.", "attest_required": "Please confirm the answers are true.",
    "exclusive": "The one-tap check-in takes no other answers.", "bad_date": "Use YYYY-MM-DD.",
    "bad_datetime": "Not a valid date and time.", "arrives_before_departure": "Arrival is before departure.",
    "planned_date_out_of_range": "The planned date is outside the allowed range.",
    "invalid_field": "Some answers need fixing; see the marked fields.",
    "no_checkin_yesterday": "There is no check-in from yesterday; please fill in the form.",
    "checkin_required": "Do today's health check-in before applying.",
    "confirmation_required": "Without all four confirmations the application cannot be submitted. Call the prevention office:",
    "active_application_exists": "You already have an active return application.",
    "already_decided": "This stage was already decided.", "dept_stage_pending": "The department must decide first.",
    "already_arrived": "Arrival was confirmed; it can no longer be withdrawn.", "not_active": "This application has ended.",
    "not_rejected": "Only a rejected application can be amended.", "already_amended": "This application was already amended.",
    "not_approved": "The application is not approved yet.", "illegal_transition": "Not possible in the current state.",
    "no_department": "Your account has no department; ask the IT office.",
    "apply_title": "Apply to return to campus", "apply_now": "Apply to return", "no_application": "No active return application.",
    "planned_return_date": "Planned return date", "departure_region_code": "Departure region",
    "itinerary": "Itinerary", "leg": "Leg {n}", "leg_optional": "(optional, if you change)", "leg_mode": "Mode",
    "mode_rail": "Rail", "mode_air": "Air", "mode_coach": "Coach", "mode_car": "Car", "mode_other": "Other",
    "service_no": "Train / flight number", "from_region_code": "From", "to_region_code": "To",
    "depart_at": "Departs", "arrive_at": "Arrives", "return_reason": "Reason for returning",
    "confirmations_title": "About the last 14 days", "confirmations_version": "Confirmation wording version",
    "cannot_confirm": "If you cannot confirm any of these, do not submit; call the prevention office:",
    "application_title": "My return application", "application_submitted": "Submitted; your department will review it.",
    "application_withdrawn": "Application withdrawn.", "withdraw": "Withdraw", "amend": "Amend and resubmit",
    "progress": "Progress", "version": "Version", "decision_reason": "Reviewer's note", "state_draft": "Draft",
    "state_submitted": "Awaiting the department", "state_dept_approved": "Department approved; awaiting the school",
    "state_approved": "Approved; awaiting arrival", "state_arrived": "Arrived", "state_dept_rejected": "Rejected by the department",
    "state_school_rejected": "Rejected by the school", "state_withdrawn": "Withdrawn", "state_expired": "Expired",
    "state_revoked": "Revoked",
    "next_step_approved": "Return as planned and check in daily; on arrival ask your counsellor to scan your pass.",
    "next_step_rejected": "Amend the application as the note says and resubmit.",
    "review_title": "Return applications", "review_link": "Review applications", "stage_dept": "Department stage",
    "stage_school": "School stage", "filter": "Filter", "approve": "Approve", "reject": "Reject",
    "approve_selected": "Approve the selected", "reject_reason": "Reason (required; the student sees it)",
    "no_pending": "Nothing matches.", "abnormal_title": "Abnormal check-ins today", "no_abnormal": "No abnormal check-ins today.",
    "review_done": "Done.", "missing_title": "Not checked in today", "pending_count": "Waiting for me", "remind_all": "Text a reminder to them",
    "reminders_sent": "Reminders sent (at most one per person per day).", "planned": "Planned", "applicant": "Applicant", "state": "State",
    "departure_from": "from",
}


def install() -> None:
    """Add these texts to the page catalogue (existing keys are kept)."""
    for lang, texts in (("zh-CN", ZH), ("en", EN)):
        catalogue = i18n.MESSAGES.setdefault(lang, {})
        for key, text in texts.items():
            catalogue.setdefault(key, text)
