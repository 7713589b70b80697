"""What a student, a counsellor and an admin read on the everyday pages (HTTP, real app)."""

from __future__ import annotations

import re

from aiohttp import web

from server.storage.people import People
from server.web import state
from tests.workflow.conftest import Login, application_body, checkin_body
from tests.workflow.test_pages import apply_form, checkin_form, csrf


async def test_home_numbers_each_step_once_names_the_department_and_drops_the_stale_hint(
        login: Login, app: web.Application) -> None:
    s = await login("S1", name="王五")
    async with app[state.SERVICES].db.transaction() as conn:
        await People.upsert_department(conn, "CS", "计算机学院")
    home = await (await s.get("/")).text()
    assert "<dd>计算机学院</dd>" in home and "<dd>CS</dd>" not in home
    assert "你好，王五" in home
    r = await s.post("/checkin", data=checkin_form(await csrf(s, "/checkin")), allow_redirects=False)
    home = await (await s.get(r.headers["Location"])).text()
    for mark in "①②③":
        assert home.count(mark) <= 1, mark
    assert "请先完成今日健康打卡" not in home  # checked in: the pass card says what comes next
    assert "今日已打卡，可以申请返校" in home


async def test_a_fever_check_in_is_no_green_success(login: Login) -> None:
    s = await login("S1")
    r = await s.post("/checkin", data=checkin_form(await csrf(s, "/checkin"), temperature_c="38.2"),
                     allow_redirects=False)
    assert r.headers["Location"] == "/?msg=checkin_saved_abnormal"
    home = await (await s.get(r.headers["Location"])).text()
    assert '<p class="error" role="status">打卡已提交。今日情况异常' in home and "打卡成功" not in home


async def test_unticked_confirmation_names_it_under_the_title_and_keeps_the_rest(login: Login) -> None:
    s = await login("S1")
    await s.post("/api/v1/checkins/today", json=checkin_body())
    form = apply_form(await csrf(s, "/apply"))
    del form["no_symptoms"]
    text = await (await s.post("/apply", data=form)).text()
    main = text.split("<main>")[1]
    assert main.index("<h1>") < main.index("以下承诺未勾选")  # one message, under the title
    assert main.count('class="error"') == 1
    named = main.split("以下承诺未勾选")[1].split("</ul>")[0]
    assert "无发热、咳嗽" in named and "隔离" not in named
    assert main.count('value="yes" checked') == 3


async def test_empty_date_times_say_required_not_bad_format(login: Login) -> None:
    s = await login("S1")
    await s.post("/api/v1/checkins/today", json=checkin_body())
    text = await (await s.post("/apply", data=apply_form(await csrf(s, "/apply"), leg0_depart_at="",
                                                         leg0_arrive_at=""))).text()
    assert "时间格式不正确" not in text and text.count("此项必填") == 2


async def test_after_approval_withdrawing_is_tucked_away_and_after_arrival_there_is_no_apply_again(
        login: Login, app: web.Application) -> None:
    s = await login("S1")
    await s.post("/api/v1/checkins/today", json=checkin_body())
    created = await (await s.post("/api/v1/return-applications", json=application_body())).json()
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    a = await login("A1", role="school_admin", department=None)
    assert (await c.post(f"/api/v1/return-applications/{created['id']}/approve", json={})).status == 200
    assert (await a.post(f"/api/v1/return-applications/{created['id']}/approve", json={})).status == 200
    home = await (await s.get("/")).text()
    assert '<details class="plan-changed">' in home
    assert home.index("/withdraw") > home.index('<details class="plan-changed">')
    r = await c.post("/api/v1/arrivals", json={"number": "S1"})
    assert r.status == 200, await r.text()
    home = await (await s.get("/")).text()
    assert 'href="/apply"' not in home and "/withdraw" not in home


async def test_english_pages_use_english_punctuation(login: Login) -> None:
    s = await login("S1", name="Wang")
    s.session.cookie_jar.update_cookies({"cp_lang": "en"})
    await s.post("/checkin", data=checkin_form(await csrf(s, "/checkin")))
    for path in ("/", "/checkin", "/apply", "/pass"):
        main = (await (await s.get(path)).text()).split("<main>")[1]
        visible = re.sub(r"<[^>]+>", " ", main)
        visible = re.sub(r'lang="zh-CN".*?</small>', "", visible)
        assert not re.findall("[，（）：？]", re.sub(r"<small class=\"hint\" lang=\"zh-CN\">.*?</small>", "", main)), path


async def test_login_throttle_says_how_long_to_wait(login: Login, client) -> None:  # type: ignore[no-untyped-def]
    await login("S1")
    token = await csrf(client, "/login")
    text = ""
    for _ in range(12):
        r = await client.post("/login", data={"csrf_token": token, "username": "S1", "password": "wrong-one-x"},
                              allow_redirects=False)
        text = await r.text()
        if r.status == 429:
            break
    assert r.status == 429
    assert re.search(r"请在 \d+ (秒|分钟)后再试。", text), text


async def test_phone_number_never_travels_in_the_url_and_the_icon_is_found(client, app: web.Application) -> None:  # type: ignore[no-untyped-def]
    from tests.server.conftest import add_person

    await add_person(app, "S9")
    token = await csrf(client, "/login")
    r = await client.post("/login", data={"csrf_token": token, "username": "S9", "password": "12345X"},
                          allow_redirects=False)
    token = await csrf(client, "/setup")
    r = await client.post("/setup/password", data={"csrf_token": token, "old_password": "12345X",
                                                    "new_password": "a-long-new-pass", "repeat_password": "a-long-new-pass"},
                          allow_redirects=False)
    r = await client.post("/setup/phone/code", data={"csrf_token": token, "phone": "13912345678"}, allow_redirects=False)
    assert r.status == 303 and "13912345678" not in r.headers["Location"]
    page = await (await client.get(r.headers["Location"])).text()
    assert 'value="13912345678"' in page  # the next step still knows the number
    r = await client.get("/favicon.ico", allow_redirects=True)
    assert r.status == 200 and r.content_type == "image/svg+xml"


async def test_sms_and_audit_pages_speak_chinese_and_name_the_person(login: Login) -> None:
    s = await login("S1", name="王五")
    a = await login("A1", role="school_admin", department=None)
    sms = (await (await a.get("/admin/sms")).text()).split("<main>")[1]
    assert "手机验证码" in sms and "已发送（已尝试 1 次）" in sms
    assert "phone_code" not in sms and "sent (" not in sms
    token = await csrf(a, "/admin?number=S1")
    r = await a.post("/admin/people/S1/reset", data={"csrf_token": token}, allow_redirects=False)
    assert r.status == 303
    await s.get("/")
    audit = (await (await a.get("/admin/audit")).text()).split("<main>")[1]
    assert "重置密码" in audit and "S1 王五" in audit
    assert "password_reset" not in audit and "{&#34;" not in audit and "{\"" not in audit
