"""Page texts in Chinese (default) and English: one dict per language, keyed by message id.

Templates call ``t("key")``; the language comes from the ``cp_lang`` cookie (``/lang/en``,
``/lang/zh-CN``). Error codes double as keys so error pages are translated too; an unknown key
falls back to English, then to the key itself.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.regions import REGIONS
from server.web.pass_messages import MESSAGES as PASS_MESSAGES

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"

MESSAGES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "app_name": "校园通行",
        "login": "登录",
        "logout": "退出登录",
        "number": "学号 / 工号",
        "password": "密码",
        "login_hint": "初始密码为身份证号后六位（末位 X 大小写均可）。",
        "home": "首页",
        "hello": "你好",
        "setup_title": "首次登录设置",
        "setup_intro": "首次登录须修改初始密码并绑定手机号，完成后方可使用。",
        "step_password": "第一步：设置新密码",
        "step_phone": "第二步：绑定手机号",
        "old_password": "当前密码（初始密码）",
        "new_password": "新密码（至少 8 位，不能是学号或初始密码）",
        "repeat_password": "再次输入新密码",
        "save": "保存",
        "phone": "手机号",
        "send_code": "发送验证码",
        "code": "短信验证码（6 位）",
        "verify": "验证并绑定",
        "done": "已完成",
        "code_sent": "验证码已发送，5 分钟内有效。",
        "password_saved": "新密码已保存。",
        "phone_bound": "手机号已绑定，账号已激活。",
        "change_password": "修改密码",
        "role": "身份",
        "department": "院系",
        "class_name": "班级",
        "admin": "管理",
        "roster_import": "导入名单",
        "roster_file": "名单文件（Excel .xlsx，或 CSV UTF-8）",
        "roster_row": "行", "roster_column": "列", "roster_value": "内容",
        "skip_bad_rows": "跳过有误的行",
        "import": "导入",
        "sms_outbox": "短信发送记录",
        "door_nodes": "门禁节点",
        "scan_log": "通行记录",
        "audit_log": "审计日志",
        "people": "人员",
        "reset_password": "重置为初始密码",
        "retry": "重发",
        "sms_class_retry": "暂时失败（限流或服务商故障），稍后自动重发",
        "sms_class_give_up": "无法送达（号码无效或被拒收），不再重发",
        "sms_class_misconfigured": "配置有误（密钥、签名或模板），请检查 server.toml 和服务商控制台后重发",
        "sms_class_unknown": "结果不明（请求已发出但未收到答复），可能已送达，未自动重发",
        "status": "状态",
        "error": "出错了",
        "back": "返回",
        "passwords_differ": "两次输入的新密码不一致。",
        "role_student": "学生", "role_staff": "教职工", "role_counsellor": "辅导员",
        "role_school_admin": "学校管理员", "role_system_admin": "系统管理员",
        "bad_credentials": "学号/工号或密码错误。",
        "login_cas": "使用统一身份认证登录",
        "login_admin": "系统管理员登录",
        "login_hint_directory": "请使用统一身份认证（学校信息门户）的账号和密码登录。",
        "not_on_roster": "统一身份认证已确认您的身份，但您不在本系统名单中，请联系所在院系。",
        "directory_locked": "您的统一身份认证账号已被锁定或停用，请联系信息化办公室解锁。",
        "directory_unavailable": "暂时无法连接学校统一身份认证，请稍后再试。",
        "directory_misconfigured": "学校统一身份认证的对接配置有误，请联系信息化办公室。",
        "cas_ticket_refused": "统一身份认证未接受此次登录，请重新登录。",
        "cas_unavailable": "暂时无法连接学校统一身份认证，请稍后再试。",
        "cas_misconfigured": "学校统一身份认证的对接配置有误，请联系信息化办公室。",
        "login_slowed": "登录失败次数较多，请稍后再试。",
        "login_wait": "请在 {wait}后再试。",
        "login_blocked": "登录失败次数过多，账号暂时锁定，请稍后再试或联系辅导员重置密码。",
        "csrf_failed": "页面已过期，请刷新后重试。",
        "weak_password": "新密码不符合要求：至少 8 位，不能是学号或初始密码。",
        "wrong_password": "当前密码错误。",
        "bad_phone": "手机号格式不正确。",
        "wrong_code": "验证码错误。",
        "code_expired": "验证码已过期，请重新获取。",
        "code_exhausted": "验证码错误次数过多，请重新获取。",
        "code_resend_wait": "发送过于频繁，请稍后再试。",
        "code_send_limit": "一小时内发送次数过多，请稍后再试。",
        "no_code": "请先获取验证码。",
        "forbidden": "没有权限访问此页面。",
        "department_scope": "只能查看本院系的人员。",
        "not_found": "页面不存在。",
        "setup_required": "请先完成首次登录设置。",
        "internal": "服务器内部错误。",
        "search": "查询", "name": "姓名", "reason": "原因", "import_done": "导入完成", "created": "新建",
        "updated": "更新", "skipped": "跳过", "time": "时间", "purpose": "用途", "actor": "操作人",
        "action": "操作", "detail": "详情", "audit_target": "涉及人员", "state_initial": "未改初始密码", "state_no_phone": "未绑定手机",
        "state_active": "已激活", "password_reset_done": "已重置为初始密码。", "roster_missing": "请选择名单文件。",
        "bad_roster": "名单有误，未导入任何数据。",
        "roster_large_hint": "每位新人员的初始密码哈希约需 50 毫秒；上万人的名单请在服务器上用 campuspass server import-roster 导入。",
    },
    "en": {
        "app_name": "Campus Pass",
        "login": "Log in",
        "logout": "Log out",
        "number": "Student / staff number",
        "password": "Password",
        "login_hint": "Your initial password is the last six characters of your national ID (X or x).",
        "home": "Home",
        "hello": "Hello",
        "setup_title": "First login",
        "setup_intro": "Before using the service, set a new password and bind your mobile number.",
        "step_password": "Step 1: set a new password",
        "step_phone": "Step 2: bind your mobile number",
        "old_password": "Current (initial) password",
        "new_password": "New password (8+ characters, not your number or initial password)",
        "repeat_password": "Repeat the new password",
        "save": "Save",
        "phone": "Mobile number",
        "send_code": "Send code",
        "code": "SMS code (6 digits)",
        "verify": "Verify and bind",
        "done": "Done",
        "code_sent": "Code sent; it is valid for 5 minutes.",
        "password_saved": "New password saved.",
        "phone_bound": "Mobile number bound; your account is active.",
        "change_password": "Change password",
        "role": "Role",
        "department": "Department",
        "class_name": "Class",
        "admin": "Admin",
        "roster_import": "Import roster",
        "roster_file": "Roster file (Excel .xlsx, or CSV UTF-8)",
        "roster_row": "Row", "roster_column": "Column", "roster_value": "Value",
        "skip_bad_rows": "Skip bad rows",
        "import": "Import",
        "sms_outbox": "SMS outbox",
        "door_nodes": "Door nodes",
        "scan_log": "Scan log",
        "audit_log": "Audit log",
        "people": "People",
        "reset_password": "Reset to initial password",
        "retry": "Retry",
        "sms_class_retry": "Temporary failure (throttled or provider fault); retried automatically",
        "sms_class_give_up": "Cannot be delivered (bad or blocked number); not retried",
        "sms_class_misconfigured": "Misconfigured (key, signature name or template): fix server.toml or the provider console, then retry",
        "sms_class_unknown": "Outcome unknown (the request went out, no answer came back); it may have been delivered, so it was not resent",
        "status": "Status",
        "error": "Something went wrong",
        "back": "Back",
        "passwords_differ": "The two new passwords differ.",
        "role_student": "Student", "role_staff": "Staff", "role_counsellor": "Counsellor",
        "role_school_admin": "School admin", "role_system_admin": "System admin",
        "bad_credentials": "Wrong number or password.",
        "login_cas": "Sign in with the university account",
        "login_admin": "System administrator login",
        "login_hint_directory": "Use the user name and password of the university's unified identity account.",
        "not_on_roster": "The university login knows you, but you are not on the campuspass roster; ask your department.",
        "directory_locked": "Your university account is locked or disabled; ask the IT office to unlock it.",
        "directory_unavailable": "The university's login cannot be reached right now; try again shortly.",
        "directory_misconfigured": "The connection to the university's login is misconfigured; tell the IT office.",
        "cas_ticket_refused": "The university's login did not accept this sign-in; please sign in again.",
        "cas_unavailable": "The university's login cannot be reached right now; try again shortly.",
        "cas_misconfigured": "The connection to the university's login is misconfigured; tell the IT office.",
        "login_slowed": "Several failed logins: wait a little before trying again.",
        "login_wait": "Try again in {wait}.",
        "login_blocked": "Too many failed logins: login is blocked for a while. Ask your counsellor to reset your password.",
        "csrf_failed": "The page has expired; reload it and try again.",
        "weak_password": "The new password must have 8+ characters and be neither your number nor the initial password.",
        "wrong_password": "The current password is wrong.",
        "bad_phone": "That is not a valid mobile number.",
        "wrong_code": "Wrong code.",
        "code_expired": "The code has expired; ask for a new one.",
        "code_exhausted": "Too many wrong codes; ask for a new one.",
        "code_resend_wait": "Please wait before asking for another code.",
        "code_send_limit": "Too many codes this hour; try again later.",
        "no_code": "Ask for a code first.",
        "forbidden": "You may not open this page.",
        "department_scope": "You can only see people of your own departments.",
        "not_found": "No such page.",
        "setup_required": "Finish the first-login setup first.",
        "internal": "Internal server error.",
        "search": "Search", "name": "Name", "reason": "Reason", "import_done": "Imported", "created": "created",
        "updated": "updated", "skipped": "skipped", "time": "Time", "purpose": "Purpose", "actor": "Who",
        "action": "Action", "detail": "Detail", "audit_target": "About", "state_initial": "initial password", "state_no_phone": "no phone yet",
        "state_active": "active", "password_reset_done": "Reset to the initial password.",
        "roster_missing": "Choose a roster file.", "bad_roster": "The roster has bad rows; nothing was imported.",
        "roster_large_hint": "Hashing each new person's initial password takes about 50 ms; import rosters of tens of thousands on the server with campuspass server import-roster.",
    },
}

for _lang, _texts in PASS_MESSAGES.items():  # pass, arrival and building pages (server/web/pass_messages.py)
    for _key, _text in _texts.items():
        MESSAGES[_lang].setdefault(_key, _text)


def lang_of(request: web.Request) -> str:
    """The page language of this request (cookie, else zh-CN)."""
    lang = request.cookies.get("cp_lang", DEFAULT_LANG)
    return lang if lang in LANGS else DEFAULT_LANG


def translate(lang: str, key: str, fallback: str | None = None) -> str:
    """The text of ``key`` in ``lang`` (English, then ``fallback`` or the key when missing)."""
    return MESSAGES.get(lang, {}).get(key) or MESSAGES["en"].get(key) or fallback or key


async def page_context(request: web.Request) -> dict[str, Any]:
    """Template globals: ``t``, ``lang``, ``user``, ``csrf_token``, ``path`` (this page) and
    ``region`` (a GB/T 2260 code → the name a person reads), ``colon`` and ``paren`` (the
    language's punctuation)."""
    from server.web import auth

    lang = lang_of(request)
    user = await auth.current_user(request)
    return {
        "lang": lang,
        "t": lambda key, fallback=None: translate(lang, key, fallback),
        "user": user.person if user else None,
        "csrf_token": auth.csrf_token(request, user),
        "path": request.path,
        "region": REGIONS.full_name,
        # punctuation of the page's language: "：" and "（…）" in Chinese, ": " and " (…)" in English
        "colon": ": " if lang == "en" else "：",
        "paren": (lambda text: f" ({text})") if lang == "en" else (lambda text: f"（{text}）"),
    }
