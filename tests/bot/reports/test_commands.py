"""Every report command through the real core, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.bot.reports.harness import COORDINATOR, COORDINATOR_CHAT, Harness

CHIEF, OTHER_CHIEF, STRANGER = 101, 102, 555
FULL = "应考=300 实考=298 缺考=2 违纪=1 保密室=双人值守 设备=监控屏蔽正常 备注=无"


def current(h: Harness, code: str = "001") -> dict:  # type: ignore[type-arg]
    assert h.services.reports is not None
    reports = h.services.reports.current_reports(h.services.reports.today())
    return {"kind": reports[(code, h.services.reports.today())].kind,
            **reports[(code, h.services.reports.today())].values}  # fmt: skip


# ---------------------------------------------------------------------------- bind
def test_bind_wrong_code_binds_nothing(h: Harness) -> None:
    assert "考点代码或加入码不对" in h.text(CHIEF, "/bind 001 WRONG")
    assert "考点代码或加入码不对" in h.text(CHIEF, "/bind 999 AAA111")
    assert "还没有绑定考点" in h.text(CHIEF, "/zero")


def test_bind_usage_and_group_refusal(h: Harness) -> None:
    assert "用法：/bind" in h.text(CHIEF, "/bind 001")
    assert "私聊" in h.text(CHIEF, "/bind 001 AAA111", chat=-5)
    assert "还没有绑定考点" in h.text(CHIEF, "/zero")


def test_rebinding_moves_and_is_recorded(h: Harness) -> None:
    h.bind(CHIEF)
    assert "无需重复绑定" in h.text(CHIEF, "/bind 001 AAA111")
    assert "已改为绑定" in h.text(CHIEF, "/bind 002 BBB222")
    h.text(CHIEF, "/zero")
    assert h.services.reports is not None
    st = h.services.reports.status(h.services.reports.today())
    assert [s.code for s in st.reported] == ["002"]
    from sqlalchemy import select

    from bot.store.models import Binding

    with h.services.reports.db.unit() as s:
        rows = s.scalars(select(Binding).where(Binding.user_id == CHIEF).order_by(Binding.id)).all()
        assert [(b.site.code, b.unbound_at is not None) for b in rows] == [
            ("001", True),
            ("002", False),
        ]


# ---------------------------------------------------------------------------- zero
def test_zero_report_and_new_versions(h: Harness) -> None:
    h.bind(CHIEF)
    assert "零报告（第 1 版" in h.text(CHIEF, "/zero")
    assert "零报告（第 2 版" in h.text(CHIEF, "/zero")
    assert current(h)["kind"] == "zero"
    assert current(h)["remarks"] == "今日考务工作正常，无异常情况"


def test_zero_refused_after_an_incident(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, "/incident 一般 3号考场考生携带手机，已收缴")
    h.text(CHIEF, "确认")
    assert "不能再报零报告" in h.text(CHIEF, "/zero")


# ---------------------------------------------------------------------------- report
def test_one_line_report_is_shown_back_and_saved_on_confirm(h: Harness) -> None:
    h.bind(CHIEF)
    shown = h.text(CHIEF, f"/report {FULL}")
    assert "请核对" in shown and "应考人数：300" in shown and "违纪/作弊人数：1" in shown
    assert h.services.reports is not None
    assert not h.services.reports.current_reports(h.services.reports.today())  # not saved yet
    assert "日报（第 1 版" in h.text(CHIEF, "确认")
    assert (current(h)["expected"], current(h)["present"], current(h)["absent"]) == (300, 298, 2)
    assert current(h)["duty"] == "双人值守" and current(h)["remarks"] == ""


def test_one_line_report_cancelled_saves_nothing(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, f"/report {FULL}")
    assert "已取消" in h.text(CHIEF, "取消")
    assert h.services.reports is not None
    assert not h.services.reports.current_reports(h.services.reports.today())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (FULL.replace("应考=300", "应考=三百"), "「应考人数」应为不小于 0 的整数，你填的是“三百”"),
        (FULL.replace("缺考=2", "缺考=-2"), "「缺考人数」应为不小于 0 的整数"),
        (FULL.replace("缺考=2", "缺考=3"), "实考（298）+ 缺考（3）= 301，与应考（300）不符"),
        (FULL.replace(" 保密室=双人值守", ""), "请填写「保密室值班情况」"),
        (FULL.replace("违纪=1", "违纪=999"), "「违纪/作弊人数」（999）不能大于实考人数（298）"),
        ("今天一切正常", "请写成 名称+数值"),
    ],
)
def test_report_validation_names_the_field(h: Harness, line: str, message: str) -> None:
    h.bind(CHIEF)
    assert message in h.text(CHIEF, f"/report {line}")
    assert h.services.reports is not None
    assert not h.services.reports.current_reports(h.services.reports.today())


def test_report_needs_a_bound_site(h: Harness) -> None:
    assert "还没有绑定考点" in h.text(STRANGER, f"/report {FULL}")


def test_guided_report_with_corrections(h: Harness) -> None:
    h.bind(CHIEF)
    assert "「应考人数」" in h.text(CHIEF, "/report")
    assert "应为不小于 0 的整数" in h.text(CHIEF, "很多")  # asked again
    h.text(CHIEF, "100")
    h.text(CHIEF, "99")
    again = h.text(CHIEF, "5")  # 99 + 5 != 100: only 缺考 is asked again
    assert "请重新填写「缺考人数」" in again and "应考人数" not in again.splitlines()[-1]
    assert "「违纪/作弊人数」" in h.text(CHIEF, "1")
    for answer in ("0", "两人值守", "正常"):
        h.text(CHIEF, answer)
    shown = h.text(CHIEF, "无")
    assert "请核对" in shown and "缺考人数：1" in shown and "应考人数：100" in shown
    assert "请回复“确认”" in h.text(CHIEF, "嗯")
    assert "日报（第 1 版" in h.text(CHIEF, "确认")
    assert (current(h)["expected"], current(h)["absent"], current(h)["equipment"]) == (
        100,
        1,
        "正常",
    )


def test_a_new_command_drops_an_unfinished_dialogue(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, "/report")
    out = h.text(CHIEF, "/zero")
    assert "已放弃" in out and "零报告（第 1 版" in out
    assert "没有正在填写" in h.text(CHIEF, "/cancel")


def test_dialogues_are_per_chat_and_user(h: Harness) -> None:
    h.bind(CHIEF)
    h.bind(OTHER_CHIEF, "002", "BBB222")
    h.text(CHIEF, "/report")
    assert "[1]" in h.text(OTHER_CHIEF, "什么是零报告？") or "没有找到" in h.text(
        OTHER_CHIEF, "什么是零报告？"
    )
    assert "「实考人数」" in h.text(CHIEF, "300")  # CHIEF's dialogue untouched


def test_every_version_is_kept(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, "/zero")
    h.text(CHIEF, f"/report {FULL}")
    h.text(CHIEF, "确认")
    h.clock.set("2027-06-07 21:30")
    h.text(CHIEF, f"/report {FULL.replace('违纪=1', '违纪=0')}")
    h.text(CHIEF, "确认")
    listing = h.text(CHIEF, "/myreports")
    assert [line.split(" ")[1] for line in listing.splitlines()] == ["第3版", "第2版", "第1版"]
    assert "（迟报）" in listing.splitlines()[0] and "违纪0" in listing.splitlines()[0]
    assert current(h)["violations"] == 0


# ---------------------------------------------------------------------------- incidents
def test_minor_incident_is_not_escalated(h: Harness) -> None:
    h.bind(CHIEF)
    echo = h.text(CHIEF, "/incident 一般 3号考场考生携带手机，已收缴 考场=03 时间=09:40")
    assert "请核对" in echo and "考场：03" in echo and "确认后登记" in echo
    out = h.text(CHIEF, "确认")
    assert "已记录事件" in out and "【一般】" in out and "考场：03" in out
    assert not h.outbox


@pytest.mark.parametrize("level", ["重大", "特别重大", "Ⅱ级"])
def test_serious_incident_reaches_the_coordinator_chat_at_once(h: Harness, level: str) -> None:
    h.bind(CHIEF)
    echo = h.text(CHIEF, f"/incident {level} 保密室门锁被撬 措施=已封锁现场并报警")
    assert "确认后即报送招生办" in echo and not h.outbox  # nothing is sent before the tap
    out = h.text(CHIEF, "好的")
    assert "已同时报送招生办" in out
    assert [r.chat_id for r in h.outbox] == [COORDINATOR_CHAT]
    assert "保密室门锁被撬" in h.outbox[0].text and "已封锁现场并报警" in h.outbox[0].text


def test_guided_incident(h: Harness) -> None:
    h.bind(CHIEF)
    assert "事件级别" in h.text(CHIEF, "/incident")
    assert "级别“严重”不对" in h.text(CHIEF, "严重")
    h.text(CHIEF, "较大")
    h.text(CHIEF, "考生在考场晕倒")
    h.text(CHIEF, "05")
    h.text(CHIEF, "无")
    echo = h.text(CHIEF, "已送医，120到场")
    assert "【较大】考生在考场晕倒" in echo and "时间：未填" in echo
    out = h.text(CHIEF, "确认")
    assert "【较大】考生在考场晕倒" in out and "时间：未填" in out and "已送医" in out
    assert not h.outbox


def test_guided_serious_incident_needs_only_the_description_and_one_tap(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, "/incident")
    h.text(CHIEF, "重大")
    echo = h.say(CHIEF, "保密室门锁被撬")  # no room, time or measures asked for 重大
    assert "请核对" in echo[0].text and echo[0].choices == ["确认", "取消"]
    assert "已同时报送招生办" in h.text(CHIEF, "确认")
    assert len(h.outbox) == 1


def test_bad_incident_level_is_asked_again_with_buttons(h: Harness) -> None:
    h.bind(CHIEF)
    (ask,) = h.say(CHIEF, "/incident 严重 考场停电")
    assert "“严重”不是事件级别" in ask.text and ask.choices == ["一般", "较大", "重大", "特别重大"]
    assert "级别“很大”不对" in h.text(CHIEF, "很大")
    assert "【较大】严重 考场停电" in h.text(CHIEF, "较大")


# ---------------------------------------------------------------------------- duplicates
def test_duplicate_delivery_is_recorded_once(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, f"/report {FULL}", update_id=1)
    first = h.text(CHIEF, "确认", update_id=2)
    assert h.text(CHIEF, "确认", update_id=2) == first  # same delivery again: same answer
    h.text(CHIEF, "/incident 重大 考场停电", update_id=3)
    h.text(CHIEF, "确认", update_id=4)
    restarted = h.restart()  # a new process sees the same delivery (offset not yet confirmed)
    again = restarted.text(CHIEF, "确认", update_id=4)
    assert "已记录事件" in again and not restarted.outbox  # not escalated a second time
    assert restarted.services.reports is not None
    day = restarted.services.reports.today()
    assert len(restarted.services.reports.incidents(day)) == 1
    assert "第1版" in restarted.text(CHIEF, "/myreports") and "第2版" not in restarted.text(
        CHIEF, "/myreports"
    )
    restarted.services.close()


# ---------------------------------------------------------------------------- coordinators
@pytest.mark.parametrize("command", ["/status", "/summary", "/incidents", "/export", "/remind"])
def test_coordinator_commands_refused_for_others(h: Harness, command: str) -> None:
    h.bind(CHIEF)
    assert "仅限招生办" in h.text(CHIEF, command)


def _day_of_reports(h: Harness) -> None:
    h.bind(CHIEF)
    h.bind(OTHER_CHIEF, "002", "BBB222")
    h.text(CHIEF, f"/report {FULL}")
    h.text(CHIEF, "确认")
    h.text(CHIEF, "/incident 较大 考场监控断电20分钟")
    h.text(CHIEF, "确认")
    h.clock.set("2027-06-07 20:30")
    h.text(OTHER_CHIEF, "/zero")


def test_status_summary_incidents(h: Harness) -> None:
    _day_of_reports(h)
    status = h.text(COORDINATOR, "/status")
    assert "6月7日 日报情况" in status and "未报 1 个；已报 2 个（按时 1，迟报 1）" in status
    # missing first, grouped by 区县, with whether a reminder can reach the site
    assert status.index("【开发区】未报 1 个") < status.index("迟报 1 个：002 第二中学考点")
    assert "- 003 实验中学考点（未绑定，提醒发不到）" in status
    assert "001 第一中学考点" not in status.split("事件")[0]  # on-time sites are a count
    assert "事件：第一中学考点 1 起" in status  # a name, not a code
    summary = h.text(COORDINATOR, "/summary 2027-06-07")
    assert "考点 3 个，已报 2（按时 1，迟报 1），未报 1" in summary
    assert "日报 1 份；零报告 1 份（其中带人数 0 份）" in summary
    assert "人数合计（只含 日报 1 份）：应考 300，实考 298，缺考 2，违纪/作弊 1" in summary
    assert "较大 1" in summary
    assert "考场监控断电20分钟" in h.text(COORDINATOR, "/incidents 6月7日")
    assert "没有事件" in h.text(COORDINATOR, "/incidents 2027-06-06")
    assert "看不懂日期" in h.text(COORDINATOR, "/status 明年")


def test_export_csv_and_xlsx(h: Harness) -> None:
    _day_of_reports(h)
    replies = h.say(COORDINATOR, "/export 2027-06-07")
    files = {r.file.name: r.file.data for r in replies if r.file}
    rows = list(csv.reader(io.StringIO(files["kaowu-2027-06-07.csv"].decode("utf-8-sig"))))
    assert rows[0][:6] == ["日期", "场次", "考点代码", "考点名称", "区县", "状态"]
    by_code = {r[2]: r for r in rows[1:]}
    assert by_code["001"][5:10] == ["按时", "日报", "300", "298", "2"]
    assert by_code["001"][14:16] == ["1", "较大"]
    assert by_code["002"][5:7] == ["迟报", "零报告"]
    assert by_code["003"][5] == "未报"
    wb = load_workbook(io.BytesIO(files["kaowu-2027-06-07.xlsx"]))
    assert wb.sheetnames == ["日报", "事件", "汇总", "统计"]
    assert wb["事件"]["F2"].value == "考场监控断电20分钟"
    assert [c.value for c in wb["汇总"][2]][1:14] == [None, 3, 1, 1, 1, 1, 1, 0, 0, 300, 298, 2, 1]
    sheet = wb["日报"]
    assert sheet["A2"].is_date and sheet["A2"].value.date().isoformat() == "2027-06-07"
    assert sheet.auto_filter.ref == "A1:S4"
    assert sheet.column_dimensions["D"].width >= 12  # 考点名称 is readable without dragging
    assert "结束日期" in h.text(COORDINATOR, "/export 2027-06-08 至 2027-06-07")


def test_remind_reaches_bound_chiefs_of_missing_sites(h: Harness) -> None:
    h.bind(CHIEF)
    h.bind(OTHER_CHIEF, "002", "BBB222")
    h.text(CHIEF, "/zero")
    out = h.text(COORDINATOR, "/remind")
    assert "已向 1 位考点主考发送提醒（未报考点 2 个）" in out
    assert "003 实验中学考点" in out  # nobody bound: cannot be reached
    assert [r.chat_id for r in h.outbox] == [OTHER_CHIEF]
    assert "第二中学考点" in h.outbox[0].text and "20:00" in h.outbox[0].text


def test_help_by_role(h: Harness) -> None:
    assert "/zero" not in h.text(STRANGER, "/help") and "/status" not in h.text(STRANGER, "/help")
    h.bind(CHIEF)
    assert "/zero" in h.text(CHIEF, "/help") and "/status" not in h.text(CHIEF, "/help")
    assert "/status" in h.text(COORDINATOR, "/help")
