"""Report templates from a file (fields, checks, 零报告 figures) and per-session reporting from
the schedule: reports, status, reminders, digests and the export per session; both databases."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.reports.template import DEFAULT_TEMPLATE, TemplateError, load_template
from tests.bot.reports.harness import COORDINATOR, COORDINATOR_CHAT, Harness, make_harness
from tests.bot.reports.test_report_input import SESSIONS_JSON

CHIEF, OTHER = 101, 102

TEMPLATE_TOML = """
zero_fields = ["expected", "present", "absent"]
checks = ["实考 + 缺考 = 应考", "作弊 <= 实考"]

[[fields]]
name = "expected"
label = "应考人数"
type = "count"
aliases = ["应考"]
example = "300"

[[fields]]
name = "present"
label = "实考人数"
type = "count"
aliases = ["实考"]
example = "298"

[[fields]]
name = "absent"
label = "缺考人数"
type = "count"
aliases = ["缺考"]
example = "2"

[[fields]]
name = "cheating"
label = "作弊人数"
type = "count"
aliases = ["作弊"]
example = "0"

[[fields]]
name = "patrol"
label = "巡考情况"
type = "text"
aliases = ["巡考"]
example = "正常"
required = false
"""


@pytest.fixture
def ht(tmp_path: Path, db_url: str) -> Iterator[Harness]:
    """A harness whose 日报 template is an office's own TOML file."""
    path = tmp_path / "template.toml"
    path.write_text(TEMPLATE_TOML, encoding="utf-8")
    h = make_harness(tmp_path, db_url, report_template_file=path)
    yield h
    h.services.close()


def test_template_fields_and_checks_come_from_the_file(ht: Harness) -> None:
    ht.bind(CHIEF)
    out = ht.text(CHIEF, "/report 应考300 实考298 缺考2 作弊0")
    assert "作弊人数：0" in out and "保密室" not in out
    assert "日报（第 1 版" in ht.text(CHIEF, "确认")
    assert "作弊人数" in ht.text(CHIEF, "/report 应考300 实考298 缺考2 作弊299") and "不能大于" in (
        ht.text(CHIEF, "/report 应考300 实考298 缺考2 作弊299")
    )
    assert ht.services.reports is not None
    svc = ht.services.reports
    r = svc.current_reports(svc.today())[("001", svc.today())]
    assert r.values["cheating"] == 0 and r.values["expected"] == 300


def test_zero_report_carries_the_figures_the_template_requires(ht: Harness) -> None:
    ht.bind(CHIEF)
    out = ht.text(CHIEF, "/zero")
    assert "零报告需要带上：应考人数、实考人数、缺考人数" in out
    assert "例如：/zero 应考300 实考298 缺考2" in out
    assert "与应考（300）不符" in ht.text(CHIEF, "/zero 应考300 实考300 缺考1")
    assert "零报告（第 1 版" in ht.text(CHIEF, "/zero 应考300 实考300 缺考0")
    summary = ht.text(COORDINATOR, "/summary")
    assert "零报告 1 份（其中带人数 1 份）" in summary
    assert "人数合计（只含 日报 0 份、带人数的零报告 1 份）：应考 300，实考 300" in summary


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ("{", ".json", "不是合法的 JSON（第 1 行）"),
        ("fields = 3", ".toml", "需要一个非空的 fields 列表"),
        ('{"fields": [{"name": "a", "label": "甲", "type": "number"}]}', ".json",
         "type“number”不对"),
        ('{"fields": [{"name": "a", "label": "甲"}, {"name": "b", "label": "甲"}]}', ".json",
         "名称“甲”与前面的字段重复"),
        ('{"fields": [{"name": "a", "label": "甲", "type": "count"}], "checks": ["甲 = 乙"]}',
         ".json", "“乙”不是模板里的字段"),
        ('{"fields": [{"name": "a", "label": "甲"}], "zero_fields": ["b"]}', ".json",
         "zero_fields 中“b”不是模板里的字段"),
    ],
)  # fmt: skip
def test_bad_template_files_are_explained(
    tmp_path: Path, text: str, suffix: str, message: str
) -> None:
    path = tmp_path / f"t{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TemplateError, match=message):
        load_template(path)
    with pytest.raises(TemplateError, match="无法读取"):
        load_template(tmp_path / "missing.json")
    assert load_template(None) is DEFAULT_TEMPLATE


def test_docs_sample_template_loads() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs"
    assert load_template(docs / "report_template.json").zero_fields == ()


@pytest.fixture
def hsess(tmp_path: Path, db_url: str) -> Iterator[Harness]:
    """A harness whose schedule has 上午 and 下午 sessions on 6月7日."""
    schedule = tmp_path / "s.json"
    schedule.write_text(SESSIONS_JSON, encoding="utf-8")
    h = make_harness(tmp_path, db_url, schedule=schedule)
    yield h
    h.services.close()


def test_reports_status_and_export_per_session(hsess: Harness) -> None:
    h = hsess
    h.bind(CHIEF)
    h.bind(OTHER, "002", "BBB222")
    h.clock.set("2027-06-07 10:00")
    assert "6月7日 上午场 的零报告" in h.text(CHIEF, "/zero")
    h.clock.set("2027-06-07 13:00")  # after the 上午 deadline, before 下午 starts
    out = h.text(OTHER, "/zero")
    assert "上午场" in out and "已过当日截止时间 12:30" in out
    h.clock.set("2027-06-07 16:00")
    assert "下午场" in h.text(CHIEF, "/zero")
    status = h.text(COORDINATOR, "/status")
    assert "6月7日 上午场 日报情况（截止 12:30" in status
    assert "6月7日 下午场 日报情况（截止 18:30" in status
    afternoon = h.text(COORDINATOR, "/status 下午")
    assert "上午场" not in afternoon and "未报 2 个；已报 1 个" in afternoon
    assert "没有“晚上”这一场" in h.text(COORDINATOR, "/status 晚上")
    assert "上午场 汇总" in h.text(COORDINATOR, "/summary 上午")
    files = {r.file.name: r.file.data for r in h.say(COORDINATOR, "/export") if r.file}
    wb = load_workbook(io.BytesIO(next(v for k, v in files.items() if k.endswith(".xlsx"))))
    assert wb.sheetnames[:2] == ["日报-上午", "日报-下午"]
    morning = {r[2]: r[5] for r in wb["日报-上午"].iter_rows(min_row=2, values_only=True)}
    assert morning == {"001": "按时", "002": "迟报", "003": "未报"}


def test_reminders_and_digests_per_session(hsess: Harness) -> None:
    h = hsess
    h.bind(CHIEF)
    h.bind(OTHER, "002", "BBB222")
    assert h.services.reports is not None and h.services.notifier is not None
    notifier = h.services.notifier
    h.clock.set("2027-06-07 10:00")
    h.text(CHIEF, "/zero")
    h.clock.set("2027-06-07 11:40")  # 上午 reminder (50 min before 12:30 is past 11:30)
    notifier.tick(h.clock.now())
    reminders = [r for r in h.outbox if r.chat_id == OTHER]
    assert len(reminders) == 1 and "上午场" in reminders[0].text
    h.clock.set("2027-06-07 12:31")
    notifier.tick(h.clock.now())
    digests = [r for r in h.outbox if r.chat_id == COORDINATOR_CHAT]
    assert len(digests) == 1 and "6月7日 上午场 12:30 已到" in digests[0].text
    h.clock.set("2027-06-07 18:31")
    notifier.tick(h.clock.now())
    notifier.tick(h.clock.now())  # once only
    digests = [r for r in h.outbox if r.chat_id == COORDINATOR_CHAT]
    assert len(digests) == 2 and "下午场 18:30 已到，以下 3 个考点未报告" in digests[1].text
