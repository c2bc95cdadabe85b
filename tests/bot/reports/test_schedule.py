"""Reporting days, deadlines, reminders and the deadline digest, with a controllable clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.reports.schedule import ScheduleError, build_schedule
from tests.bot.reports.harness import COORDINATOR_CHAT, Harness, make_harness

CHIEF, OTHER_CHIEF = 101, 102


def _tick(h: Harness) -> list:  # type: ignore[type-arg]
    assert h.services.notifier is not None and h.services.reports is not None
    return h.services.notifier.tick(h.services.reports.now())


def test_reminder_then_digest(h: Harness) -> None:
    h.bind(CHIEF)
    h.bind(OTHER_CHIEF, "002", "BBB222")
    h.text(CHIEF, "/zero")
    h.clock.set("2027-06-07 18:59")
    assert _tick(h) == []  # reminder is due at 19:00 (deadline 20:00 minus 60 minutes)
    h.clock.set("2027-06-07 19:00")
    reminders = _tick(h)
    assert [r.chat_id for r in reminders] == [OTHER_CHIEF]  # only the site that has not reported
    assert "还没有提交" in reminders[0].text
    assert _tick(h) == []  # never twice
    h.clock.set("2027-06-07 20:00")
    digest = _tick(h)
    assert [r.chat_id for r in digest] == [COORDINATOR_CHAT]
    assert "以下 2 个考点未报告" in digest[0].text
    assert "002 第二中学考点" in digest[0].text and "003 实验中学考点" in digest[0].text
    assert "001" not in digest[0].text
    assert _tick(h) == []


def test_digest_when_everyone_reported(h: Harness) -> None:
    for user, code, join in ((1, "001", "AAA111"), (2, "002", "BBB222"), (3, "003", "CCC333")):
        h.bind(user, code, join)
        h.text(user, "/zero")
    h.clock.set("2027-06-07 20:01")
    assert "全部 3 个考点均已报告" in _tick(h)[0].text


def test_restart_rebuilds_the_plan_and_loses_no_reminder(h: Harness) -> None:
    h.bind(CHIEF)
    assert h.services.notifier is not None and h.services.reports is not None
    plan = h.services.notifier.plan(h.services.reports.now())
    assert [(j.kind, j.when.astimezone(h.services.reports.schedule.tz).strftime("%m-%d %H:%M"))
            for j in plan][:2] == [("reminder", "06-07 19:00"), ("digest", "06-07 20:00")]  # fmt: skip
    # kaowu was down from 18:00 to 19:30: the reminder time passed while it was off.
    h.clock.set("2027-06-07 19:30")
    restarted = h.restart()
    assert restarted.services.notifier is not None
    plan = restarted.services.notifier.plan(restarted.services.reports.now())  # type: ignore[union-attr]
    assert plan[0].kind == "reminder" and plan[0].when == restarted.clock.now()  # due at once
    assert [r.chat_id for r in _tick(restarted)] == [CHIEF]
    # Down again across the deadline: the digest is sent when it comes back, the reminder is not.
    restarted.clock.set("2027-06-07 22:00")
    again = restarted.restart()
    sent = _tick(again)
    assert [r.chat_id for r in sent] == [COORDINATOR_CHAT]
    assert _tick(again.restart()) == []  # and never again after yet another restart


def test_late_report_flagged(h: Harness) -> None:
    h.bind(CHIEF)
    h.clock.set("2027-06-07 20:05")
    assert "记为迟报" in h.text(CHIEF, "/zero")
    assert h.services.reports is not None
    assert [s.code for s in h.services.reports.status(h.services.reports.today()).late] == ["001"]


def _schedule_file(tmp_path: Path) -> Path:
    path = tmp_path / "gaokao.json"
    path.write_text(json.dumps({
        "name": "2027年高考",
        "deadline": "19:00",
        "days": [
            {"date": "2027-06-07", "sessions": [{"subject": "语文", "start": "09:00", "end": "11:30"}]},
            {"date": "2027-06-08", "deadline": "18:30",
             "sessions": [{"subject": "物理", "start": "09:00", "end": "10:15"}]},
        ],
    }, ensure_ascii=False), encoding="utf-8")  # fmt: skip
    return path


def test_schedule_file_sets_days_and_deadlines(tmp_path: Path, db_url: str) -> None:
    h = make_harness(tmp_path, db_url, schedule=_schedule_file(tmp_path))
    try:
        h.bind(CHIEF)
        h.clock.set("2027-06-07 19:10")
        assert "已过当日截止时间 19:00" in h.text(CHIEF, "/zero")
        h.clock.set("2027-06-08 18:00")
        assert "迟报" not in h.text(CHIEF, "/zero")
        h.clock.set("2027-06-09 10:00")
        assert "不是考试日" in h.text(CHIEF, "/zero")
        assert h.services.notifier is not None
        plan = h.services.notifier.plan(h.services.reports.now())  # type: ignore[union-attr]
        # No exam day ahead; the two digests nobody ticked for are caught up, nothing else.
        assert [(j.kind, str(j.day)) for j in plan] == [
            ("digest", "2027-06-07"), ("digest", "2027-06-08")
        ]  # fmt: skip
    finally:
        h.services.close()


def test_csv_schedule(tmp_path: Path) -> None:
    path = tmp_path / "zhongkao.csv"
    path.write_text("date,subject,start,end,deadline\n2027-06-20,语文,09:00,11:00,17:30\n"
                    "2027-06-20,数学,14:00,16:00,\n2027-06-21,英语,09:00,11:00,\n",
                    encoding="utf-8")  # fmt: skip
    s = build_schedule("Asia/Shanghai", "20:00", 30, path)
    assert s.days is not None and len(s.days[s.upcoming(s.days and min(s.days))[0]].sessions) == 2
    assert s.deadline(min(s.days)).strftime("%H:%M") == "17:30"
    assert s.reminder_at(max(s.days)).strftime("%H:%M") == "19:30"


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ('{"days": [{"date": "2027-13-01"}]}', ".json", "第 1 个考试日的日期“2027-13-01”不对"),
        ('{"days": [{"date": "2027-06-07", "deadline": "7pm"}]}', ".json", "时间“7pm”不对"),
        ("{not json", ".json", "不是合法的 JSON"),
        ('{"days": []}', ".json", "没有任何考试日"),
        ("day,subject\n", ".csv", "表头应为 date,subject,start,end"),
    ],
)
def test_bad_schedule_files_explained(
    tmp_path: Path, content: str, suffix: str, message: str
) -> None:
    path = tmp_path / f"s{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ScheduleError, match=message):
        build_schedule("Asia/Shanghai", "20:00", 60, path)


def test_bad_settings_explained() -> None:
    with pytest.raises(ScheduleError, match="不是有效的时区名"):
        build_schedule("Mars/Olympus", "20:00", 60)
    with pytest.raises(ScheduleError, match="REPORT_DEADLINE"):
        build_schedule("Asia/Shanghai", "8pm", 60)
