"""/status, /summary, /stats, /remind and exports as a 区县 coordinator and as the top level,
and messages split so Telegram accepts them; on both databases."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.reports.pages import split_messages
from bot.reports.scope import ALL, Coordinators, Scope, ScopeError
from bot.reports.views import SiteInfo
from tests.bot.reports.harness import COORDINATOR, Harness, make_harness

CHIEF, OTHER, THIRD = 101, 102, 103
DISTRICT_COORD, FILE_COORD = 901, 902
FULL = "应考=300 实考=298 缺考=2 违纪=1 保密室=双人值守 设备=正常"


@pytest.fixture
def hs(tmp_path: Path, db_url: str) -> Iterator[Harness]:
    """Three sites (城区 ×2, 开发区); 901 sees 开发区 (setting), 902 城区 (coordinators file)."""
    people = tmp_path / "coordinators.csv"
    people.write_text("user_id,姓名,区县\n902,王老师,城区\n", encoding="utf-8")
    h = make_harness(tmp_path, db_url, coordinator_scopes="901=开发区", coordinators_file=people)
    yield h
    h.services.close()


def _day(h: Harness) -> None:
    h.bind(CHIEF)
    h.bind(OTHER, "002", "BBB222")
    h.text(CHIEF, f"/report {FULL}")
    h.text(CHIEF, "确认")
    h.text(OTHER, "/zero")
    h.text(OTHER, "/incident 一般 3号考场考生携带手机，已收缴")
    h.text(OTHER, "确认")  # an incident is echoed and stored once confirmed


def test_top_level_status_names_missing_first_with_a_reminder_button(hs: Harness) -> None:
    hs.bind(THIRD, "003", "CCC333")
    hs.bind(CHIEF)
    hs.text(CHIEF, "/zero")
    replies = hs.say(COORDINATOR, "/status")
    text = "\n".join(r.text for r in replies)
    assert "未报 2 个；已报 1 个（按时 1，迟报 0）" in text and "001" not in text
    assert text.index("【城区】未报 1 个") < text.index("【开发区】未报 1 个")
    assert "- 002 第二中学考点（未绑定，提醒发不到）" in text
    assert "- 003 实验中学考点（已绑定）" in text
    assert replies[-1].choices == ["/remind 003"]  # one tap per missing site a chief can get
    out = hs.text(COORDINATOR, "/remind 003")
    assert "已提醒 003 实验中学考点（开发区） 的 1 位主考" in out
    assert [r.chat_id for r in hs.outbox] == [THIRD]
    assert "提醒发不到" in hs.text(COORDINATOR, "/remind 002")
    assert "无需提醒" in hs.text(COORDINATOR, "/remind 001")
    assert "没有考点代码为 999" in hs.text(COORDINATOR, "/remind 999")


def test_zero_then_incident_is_shown_and_summary_says_what_it_covers(hs: Harness) -> None:
    _day(hs)
    status = hs.text(COORDINATOR, "/status")
    assert "零报告后有事件：002 第二中学考点" in status
    assert "事件：第二中学考点 1 起" in status
    summary = hs.text(COORDINATOR, "/summary")
    assert "日报 1 份；零报告 1 份（其中带人数 0 份）；零报告后有事件 1 个" in summary
    assert "人数合计（只含 日报 1 份）：应考 300" in summary


def test_summary_of_zero_reports_only_has_no_figures(hs: Harness) -> None:
    hs.bind(OTHER, "002", "BBB222")
    hs.text(OTHER, "/zero")
    summary = hs.text(COORDINATOR, "/summary")
    assert "人数合计：暂无" in summary and "应考 0" not in summary


def test_district_coordinators_see_only_their_sites(hs: Harness) -> None:
    _day(hs)
    kfq = hs.text(DISTRICT_COORD, "/status")
    assert "范围：开发区" in kfq and "003 实验中学考点" in kfq and "第二中学" not in kfq
    assert "考点 1 个" in hs.text(DISTRICT_COORD, "/summary")
    assert "没有事件" in hs.text(DISTRICT_COORD, "/incidents")
    assert "不在你负责的范围（开发区）内" in hs.text(DISTRICT_COORD, "/remind 001")
    city = hs.text(FILE_COORD, "/status")
    assert "范围：城区" in city and "实验中学" not in city and "零报告后有事件" in city
    assert "考点 2 个" in hs.text(FILE_COORD, "/summary")
    files = {r.file.name: r.file.data for r in hs.say(DISTRICT_COORD, "/export") if r.file}
    wb = load_workbook(io.BytesIO(next(v for k, v in files.items() if k.endswith(".xlsx"))))
    assert [row[2] for row in wb["日报"].iter_rows(min_row=2, values_only=True)] == ["003"]
    assert wb["事件"].max_row == 1  # the 城区 incident is not theirs
    assert "仅限招生办" in hs.text(CHIEF, "/stats")


def test_stats_over_days(hs: Harness) -> None:
    _day(hs)
    hs.clock.set("2027-06-08 21:00")
    hs.text(CHIEF, "/zero")  # late
    out = hs.text(COORDINATOR, "/stats 2027-06-07 至 2027-06-08")
    assert "6月7日至6月8日 统计（范围：全部考点，考点 3 个）" in out
    assert "- 003 实验中学考点：应报 2 次，迟报 0，未报 2，迟报率 0%" in out
    assert "- 001 第一中学考点：应报 2 次，迟报 1，未报 0，迟报率 50%" in out
    assert "事件按级别：一般 1，较大 0" in out and "6月7日：一般 1" in out
    assert "看不懂日期" in hs.text(COORDINATOR, "/stats 下周")


def test_status_json_contract(hs: Harness) -> None:
    _day(hs)
    assert hs.services.reports is not None
    svc = hs.services.reports
    data = svc.status(svc.today(), scope=Scope(frozenset({"城区"}))).to_json()
    assert data["deadline"].startswith("2027-06-07T20:00") and data["scope"] == "城区"
    late = data["sites"]["reported"]
    assert {s["code"]: (s["name"], s["district"], s["bound"], s["incidents"]) for s in late} == {
        "001": ("第一中学考点", "城区", True, 0),
        "002": ("第二中学考点", "城区", True, 1),
    }
    assert data["sites"]["reported"][1]["zero_then_incident"] is True


def test_split_messages_fit_telegram() -> None:
    blocks = ["标题", "\n".join(f"- {i:05d} 很长的考点名称" * 3 for i in range(600)), "x" * 9000]
    parts = split_messages(blocks)
    assert all(0 < len(p) <= 4096 for p in parts) and len(parts) > 3
    assert "".join(p.replace("\n", "") for p in parts) == "".join(
        b.replace("\n", "") for b in blocks
    )
    assert split_messages(["a", "b"]) == ["a\nb"]


def test_scope_and_coordinators_file_errors(tmp_path: Path) -> None:
    site = SiteInfo("001", "一中", "城区")
    assert ALL.allows(site) and Scope(frozenset({"城区"})).allows(site)
    assert not Scope(frozenset({"开发区"})).allows(site)
    with pytest.raises(ScopeError, match="应写成 用户id=区县"):
        Coordinators([], "abc")
    bad = tmp_path / "c.csv"
    bad.write_text("name\n王\n", encoding="utf-8")
    with pytest.raises(ScopeError, match="表头应含 user_id 和 区县"):
        Coordinators([], "", bad)
    bad.write_text("user_id,区县\nxyz,城区\n", encoding="utf-8")
    with pytest.raises(ScopeError, match="用户 id“xyz”无效"):
        Coordinators([], "", bad)
    ok = Coordinators([1], "2=城区、开发区")
    assert ok.scope_of(1) == ALL and ok.scope_of(2) == Scope(frozenset({"城区", "开发区"}))
    assert ok.scope_of(3) is None
