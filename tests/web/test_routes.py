"""Every page and action of the console through FastAPI's TestClient, for a coordinator of all
区县, a coordinator of one 区县, and a browser without a session."""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.web.conftest import CHIEF, CHIEF2, DISTRICT, TOP, Console

PAGES = ["/", "/incidents", "/sites", "/stats", "/knowledge", "/questions"]
CITY_SITES = ("第一中学考点", "第二中学考点")  # 城区
DEV_SITE = "实验中学考点"  # 开发区


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


# ---------------------------------------------------------------------- no session
def test_without_a_session_every_page_is_the_sign_in_explanation(plain: Console) -> None:
    client = plain.client
    for path in PAGES:
        r = client.get(path)
        assert "请先登录" in r.text and "/web" in r.text, path
        for name in (*CITY_SITES, DEV_SITE):
            assert name not in r.text, path
        assert r.status_code == (200 if path == "/" else 401)


def test_without_a_session_downloads_and_actions_are_refused(plain: Console) -> None:
    client = plain.client
    for path in ("/export.csv", "/export.xlsx", "/export.xlsx?start=2027-06-01&end=2027-06-07"):
        r = client.get(path)
        assert r.status_code == 401 and "请先登录" in r.text
        assert "spreadsheet" not in r.headers["content-type"]
    for path, form in (("/remind", {}), ("/sites/001/joincode", {}),
                       ("/sites/001/unbind", {"user": str(CHIEF)}), ("/knowledge/delete", {})):  # fmt: skip
        r = client.post(path, data=form, follow_redirects=False)
        assert r.status_code == 401
    assert client.get("/knowledge/jobs/x").status_code == 401
    assert plain.services.reports is not None
    assert plain.services.reports.outbox.notices() == []
    assert plain.services.reports.site_of(CHIEF) is not None  # still bound


def test_static_assets_are_served_locally(plain: Console) -> None:
    page = plain.sign_in().get("/").text
    assets = re.findall(r'(?:href|src)="([^"]+\.(?:css|js))"', page)
    assert assets and all(a.startswith("/static/") for a in assets)
    for a in assets:
        assert plain.client.get(a).status_code == 200
    assert "http://" not in page and "https://" not in page


# ---------------------------------------------------------------------- coordinator of all 区县
def test_board_lists_missing_sites_first_with_state_and_deadline(plain: Console) -> None:
    client = plain.sign_in(TOP)
    r = client.get("/")
    assert r.status_code == 200
    text = _text(r.text)
    assert "报告截止" in text and "20:00" in text
    rows = re.findall(r'<tr class="row-([^"]+)" data-code="(\d+)"', r.text)
    assert rows == [("未报", "001"), ("未报", "002"), ("零报告后有事件", "003")]
    assert "无人绑定" in text  # 002: a reminder cannot reach it
    filtered = client.get("/", params={"q": "第二"}).text
    assert "第二中学考点" in filtered and "第一中学考点" not in filtered
    by_state = client.get("/", params={"state": "零报告后有事件"}).text
    assert DEV_SITE in by_state and "第一中学考点" not in by_state


def test_remind_queues_notices_in_the_outbox_for_the_bound_chief(plain: Console) -> None:
    client = plain.sign_in(TOP)
    csrf = plain.csrf(client)
    r = client.post("/remind", data={"csrf": csrf, "code": "001"})
    assert r.status_code == 200 and "已发出 1 条提醒" in r.text
    assert plain.services.reports is not None
    notices = plain.services.reports.outbox.notices()
    assert [(n.kind, n.chat_id) for n in notices] == [("reminder", CHIEF)]
    assert "第一中学考点" in notices[0].text
    r = client.post("/remind", data={"csrf": csrf})  # all: 002 has nobody to remind
    assert "已发出 1 条提醒" in r.text and "第二中学考点" in _text(r.text)
    assert len(plain.services.reports.outbox.notices()) == 2


def test_incidents_page_shows_the_incident_and_acknowledgement_state(plain: Console) -> None:
    client = plain.sign_in(TOP)
    text = _text(client.get("/incidents").text)
    assert "携带手机" in text and "较大" in text and "已没收并记录" in text
    assert "处置中" in text
    csrf = plain.csrf(client, "/incidents")
    r = client.post("/incidents/1/ack", data={"csrf": csrf})
    assert r.status_code == 200 and "已收到：" in _text(r.text)
    reports = plain.services.reports
    assert reports is not None
    assert reports.incident_thread(1)[0].acknowledged_at is not None
    from sqlalchemy import select

    from bot.store.models import Notice

    with reports.db.read() as s:  # the reporter is told, through the outbox
        assert [n.chat_id for n in s.scalars(select(Notice).where(Notice.kind == "receipt"))] == [
            CHIEF2
        ]
    # An unknown incident is not there to acknowledge.
    assert client.post("/incidents/999/ack", data={"csrf": csrf}).status_code == 404


def test_sites_page_unbinds_and_issues_a_new_join_code(plain: Console) -> None:
    client = plain.sign_in(TOP)
    page = client.get("/sites").text
    assert "张主考" in page and "李主考" in page and "AAA111" not in page  # codes are kept hashed
    csrf = plain.csrf(client, "/sites")
    r = client.post("/sites/001/unbind", data={"csrf": csrf, "user": str(CHIEF)})
    assert r.status_code == 200 and "已解除" in r.text
    reports = plain.services.reports
    assert reports is not None
    assert reports.site_of(CHIEF) is None
    r = client.post("/sites/001/joincode", data={"csrf": csrf})
    join = re.search(r"新加入码：<strong class=\"code\">([A-Z0-9]{6})</strong>", r.text)
    assert join
    with pytest.raises(Exception, match="加入码不对"):
        reports.bind(CHIEF, "张主考", "001", "AAA111")
    assert reports.bind(CHIEF, "张主考", "001", join.group(1))[1] == "new"
    assert reports.site_of(CHIEF2) is not None  # others stay bound


def test_stats_and_downloads_cover_every_site(plain: Console) -> None:
    client = plain.sign_in(TOP)
    r = client.get("/stats", params={"start": "2027-06-07", "end": "2027-06-07"})
    assert r.status_code == 200 and "<svg" in r.text and "较大 1" in _text(r.text)
    csv = client.get("/export.csv", params={"start": "2027-06-07", "end": "2027-06-07"})
    assert csv.status_code == 200 and "kaowu-2027-06-07.csv" in csv.headers["content-disposition"]
    body = csv.content.decode("utf-8-sig")
    assert all(name in body for name in (*CITY_SITES, DEV_SITE))
    xlsx = client.get("/export.xlsx", params={"start": "2027-06-07", "end": "2027-06-07"})
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert wb.sheetnames == ["日报", "事件", "汇总", "统计"]
    assert [row[2] for row in wb["日报"].iter_rows(min_row=2, values_only=True)] == [
        "001", "002", "003"]  # fmt: skip
    assert wb["汇总"]["C2"].value == 3 and wb["汇总"]["F2"].value == 2  # 考点数, 未报


def test_questions_page_puts_declined_questions_first(plain: Console) -> None:
    from bot.qa import Answer

    log = plain.services.answers
    assert log is not None
    good = log.record(5, 5, Answer("监控录像保存多久？", True, "保存六个月。[1]"))
    log.record(5, 5, Answer("考点食堂几点开饭？", False, "知识库中没有相关规定"))
    log.vote(good, 5, -1)
    page = _text(plain.sign_in(TOP).get("/questions").text)
    assert page.index("考点食堂几点开饭") < page.index("监控录像保存多久")
    assert "收到 👎 的回答（1）" in page


# ---------------------------------------------------------------------- coordinator of one 区县
def test_district_coordinator_sees_only_their_sites(plain: Console) -> None:
    client = plain.sign_in(DISTRICT)
    for path in ("/", "/incidents", "/sites", "/stats"):
        page = client.get(path).text
        assert all(name not in page for name in CITY_SITES), path
    assert DEV_SITE in client.get("/").text and DEV_SITE in client.get("/sites").text
    assert "负责区县：开发区" in client.get("/").text
    for kind in ("csv", "xlsx"):
        r = client.get(f"/export.{kind}", params={"start": "2027-06-07", "end": "2027-06-07"})
        if kind == "csv":
            body = r.content.decode("utf-8-sig")
        else:
            wb = load_workbook(io.BytesIO(r.content))
            body = " ".join(str(c) for ws in wb for row in ws.iter_rows(values_only=True)
                            for c in row)  # fmt: skip
            assert wb["汇总"]["C2"].value == 1  # 考点数
        assert DEV_SITE in body and all(n not in body for n in CITY_SITES), kind


def test_district_coordinator_cannot_act_on_other_districts(plain: Console) -> None:
    client = plain.sign_in(DISTRICT)
    csrf = plain.csrf(client, "/sites")
    assert (
        client.post("/sites/001/unbind", data={"csrf": csrf, "user": str(CHIEF)}).status_code == 404
    )
    assert client.post("/sites/001/joincode", data={"csrf": csrf}).status_code == 404
    r = client.post("/remind", data={"csrf": csrf})
    assert "已发出 0 条提醒" in r.text
    reports = plain.services.reports
    assert reports is not None
    assert reports.site_of(CHIEF) is not None and reports.outbox.notices() == []
    assert reports.bind(CHIEF, "张主考", "001", "AAA111")[1] == "same"


# ---------------------------------------------------------------------- sign-in and bad input
def test_a_link_works_once(plain: Console) -> None:
    link = plain.link(TOP)
    first = TestClient(plain.client.app)
    assert first.get(link, follow_redirects=False).status_code == 303
    cookie = first.cookies.get("kaowu_web")
    assert cookie
    second = TestClient(plain.client.app)
    r = second.get(link)
    assert r.status_code == 400 and "已经用过了" in r.text and "第一中学考点" not in r.text
    assert "第一中学考点" in first.get("/").text


def test_session_cookie_is_httponly_samesite_and_secure_behind_https(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.web.conftest import make_console

    for base, secure in (("http://127.0.0.1:8080", False), ("https://kaowu.example.cn", True)):
        c = make_console(tmp_path / base.split(":")[0], web_base_url=base)
        try:
            r = c.client.get(c.link(TOP), follow_redirects=False)
            header = r.headers["set-cookie"].lower()
            assert "httponly" in header and "samesite=lax" in header
            assert ("secure" in header.replace("samesite", "")) is secure
        finally:
            c.services.close()


def test_an_expired_or_unknown_link_is_refused_with_a_reason(plain: Console) -> None:
    link = plain.link(TOP)
    plain.clock.set("2027-06-07 09:11")
    r = TestClient(plain.client.app).get(link)
    assert r.status_code == 400 and "已过期" in r.text and "/web" in r.text
    r = TestClient(plain.client.app).get("/login?t=nonsense")
    assert r.status_code == 400 and "无效" in r.text


def test_a_link_for_someone_no_longer_a_coordinator_opens_nothing(plain: Console) -> None:
    client = TestClient(plain.client.app)
    r = client.get(plain.link(777))
    assert r.status_code == 403 and "COORDINATOR_IDS" in r.text
    assert "请先登录" in client.get("/").text


def test_a_stale_csrf_token_changes_nothing(plain: Console) -> None:
    client = plain.sign_in(TOP)
    other = plain.sign_in(TOP)
    stale = plain.csrf(other)  # another session's token
    for path, form in (("/remind", {"code": "001"}), ("/sites/001/joincode", {}),
                       ("/sites/001/unbind", {"user": str(CHIEF)})):  # fmt: skip
        for token in (stale, ""):
            r = client.post(path, data={"csrf": token, **form})
            assert r.status_code == 403 and "页面已过期" in r.text and "刷新页面" in r.text
    reports = plain.services.reports
    assert reports is not None
    assert reports.outbox.notices() == [] and reports.site_of(CHIEF) is not None
    assert reports.bind(CHIEF, "张主考", "001", "AAA111")[1] == "same"


def test_a_reversed_or_unreadable_date_range_is_explained(plain: Console) -> None:
    client = plain.sign_in(TOP)
    for path in ("/stats", "/export.csv", "/export.xlsx"):
        r = client.get(path, params={"start": "2027-06-07", "end": "2027-06-01"})
        assert r.status_code == 400 and "晚于结束日期" in r.text, path
        assert "spreadsheet" not in r.headers["content-type"]
    r = client.get("/stats", params={"start": "6月1日", "end": "2027-06-07"})
    assert r.status_code == 400 and "年-月-日" in r.text
    r = client.get("/incidents", params={"start": "2027-06-08", "end": "2027-06-07"})
    assert r.status_code == 400 and "晚于结束日期" in r.text


def test_logout_all_ends_every_session(plain: Console) -> None:
    from web import auth

    a, b = plain.sign_in(TOP), plain.sign_in(DISTRICT)
    assert plain.services.reports is not None
    assert auth.logout_all(plain.db, plain.services.reports.now()) == 2
    for client in (a, b):
        assert "请先登录" in client.get("/").text


def test_logout_ends_this_session_only(plain: Console) -> None:
    a, b = plain.sign_in(TOP), plain.sign_in(TOP)
    a.post("/logout", data={"csrf": plain.csrf(a)})
    assert "请先登录" in a.get("/").text and "第一中学考点" in b.get("/").text
