"""Forgiving report input: 应考300, full-width forms, unknown and repeated fields, the guided
report asking only for what is wrong or missing, and the midnight cut-off; on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.reports.harness import Harness

CHIEF = 101
FULL_BARE = "应考300 实考298 缺考2 违纪1 保密室双人值守 设备正常"


def values(h: Harness) -> dict:  # type: ignore[type-arg]
    assert h.services.reports is not None
    svc = h.services.reports
    day = svc.schedule.filing_day(svc.now())[0]
    return {"kind": svc.current_reports(day)[("001", day)].kind,
            **svc.current_reports(day)[("001", day)].values}  # fmt: skip


@pytest.mark.parametrize(
    "line",
    [
        FULL_BARE,
        "应考＝３００，实考：２９８；缺考２　违纪１　保密室＝双人值守　设备＝正常",
        "应考=300 实考=298 缺考=2 违纪=1 保密室=双人值守 设备=正常",
    ],
)
def test_one_line_report_without_equals_and_full_width(h: Harness, line: str) -> None:
    h.bind(CHIEF)
    shown = h.text(CHIEF, f"/report {line}")
    assert "请核对" in shown and "应考人数：300" in shown and "缺考人数：2" in shown
    assert "日报（第 1 版" in h.text(CHIEF, "确认")
    assert (values(h)["expected"], values(h)["present"], values(h)["duty"]) == (
        300,
        298,
        "双人值守",
    )


def test_counts_only_asks_for_the_rest_one_at_a_time(h: Harness) -> None:
    h.bind(CHIEF)
    out = h.text(CHIEF, "/report 应考300 实考298 缺考2")
    assert "已记下：应考人数300、实考人数298、缺考人数2。还需填写 3 项" in out
    assert "「违纪/作弊人数」（例如：0）" in out and len(out.splitlines()) == 2  # short, no error
    assert "「保密室值班情况」" in h.text(CHIEF, "0")
    h.text(CHIEF, "双人值守")
    assert "请核对" in h.text(CHIEF, "正常")
    assert "日报（第 1 版" in h.text(CHIEF, "确认")
    assert values(h)["violations"] == 0


def test_unknown_and_repeated_fields_are_pointed_out(h: Harness) -> None:
    h.bind(CHIEF)
    out = h.text(CHIEF, "/report 应考=300 迟到=3 实考=298 缺考=2")
    assert "“迟到”不是日报里的项目" in out
    out = h.text(CHIEF, "/report 应考300 应考310 实考298")
    assert "「应考人数」写了两次（300 和 310），请只写一次" in out
    out = h.text(CHIEF, "/report 保密室=双人值守 备注=无 迟到=3")
    assert "“迟到”不是日报里的项目" in out  # not swallowed into 备注
    assert h.services.reports is not None
    assert not h.services.reports.current_reports(h.services.reports.today())


def test_guided_hints_show_an_example_and_a_bad_value_is_asked_again_alone(h: Harness) -> None:
    h.bind(CHIEF)
    out = h.text(CHIEF, "/report")
    assert "（1/7）请填写「应考人数」（例如：300）" in out and "整数" not in out
    assert "（1/7）" in h.text(CHIEF, "三百")  # the same field again
    assert "（2/7）" in h.text(CHIEF, "３００")  # full-width digits accepted
    h.text(CHIEF, "298")
    again = h.text(CHIEF, "3")
    assert "实考（298）+ 缺考（3）= 301，与应考（300）不符" in again
    assert "请重新填写「缺考人数」" in again and "（3/7）" in again
    # the mistake was in 应考 after all: correct it by name, 缺考 is still asked
    assert "（3/7）" in h.text(CHIEF, "应考301")
    assert "（4/7）" in h.text(CHIEF, "3")
    for answer in ("0", "双人值守", "正常"):
        h.text(CHIEF, answer)
    assert "请核对" in h.text(CHIEF, "无")
    h.text(CHIEF, "确认")
    assert (values(h)["expected"], values(h)["present"], values(h)["absent"]) == (301, 298, 3)


def test_report_after_midnight_is_filed_late_for_the_day_that_ended(h: Harness) -> None:
    h.bind(CHIEF)
    h.clock.set("2027-06-08 00:40")
    out = h.text(CHIEF, "/zero")
    assert "6月7日 的零报告" in out and "迟报" in out
    assert h.services.reports is not None
    svc = h.services.reports
    from datetime import date

    assert svc.current_reports(date(2027, 6, 7))[("001", date(2027, 6, 7))].late
    h.clock.set("2027-06-08 02:30")  # after the cut-off: today's report
    assert "6月8日 的零报告" in h.text(CHIEF, "/zero")


def test_cut_off_can_be_turned_off(tmp_path: Path, db_url: str) -> None:
    from tests.bot.reports.harness import make_harness

    h = make_harness(tmp_path, db_url, report_late_cutoff="00:00")
    try:
        h.bind(CHIEF)
        h.clock.set("2027-06-08 00:40")
        assert "6月8日 的零报告" in h.text(CHIEF, "/zero")
    finally:
        h.services.close()


def test_report_before_the_first_session_and_on_a_day_off_is_refused(
    tmp_path: Path, db_url: str
) -> None:
    from tests.bot.reports.harness import make_harness

    schedule = tmp_path / "s.json"
    schedule.write_text(SESSIONS_JSON, encoding="utf-8")
    h = make_harness(tmp_path, db_url, schedule=schedule)
    try:
        h.bind(CHIEF)
        h.clock.set("2027-06-07 07:30")
        assert "第一场（上午 09:00）还没有开始" in h.text(CHIEF, "/zero")
        assert "还没有开始" in h.text(CHIEF, "/report")  # refused before any field is asked
        h.clock.set("2027-06-09 10:00")
        assert "不是考试日" in h.text(CHIEF, "/zero")
        assert h.services.reports is not None
        assert not h.services.reports.versions(CHIEF)
    finally:
        h.services.close()


SESSIONS_JSON = """{"days": [{"date": "2027-06-07", "sessions": [
  {"session": "上午", "subject": "语文", "start": "09:00", "end": "11:30", "deadline": "12:30"},
  {"session": "下午", "subject": "数学", "start": "15:00", "end": "17:00", "deadline": "18:30"}]},
  {"date": "2027-06-08", "deadline": "20:00",
   "sessions": [{"subject": "综合", "start": "09:00", "end": "11:30"}]}]}"""


def test_zero_with_words_or_optional_figures(h: Harness) -> None:
    h.bind(CHIEF)
    assert "零报告（第 1 版" in h.text(CHIEF, "/zero 今日考务正常")
    assert "零报告（第 2 版" in h.text(CHIEF, "/zero 应考300 实考300 缺考0")
    assert values(h)["expected"] == 300 and values(h)["kind"] == "zero"
    assert "与应考（300）不符" in h.text(CHIEF, "/zero 应考300 实考299 缺考0")
