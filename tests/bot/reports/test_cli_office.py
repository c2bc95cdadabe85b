"""The office's CLI for issue 10, as real processes on both databases: sites import with
generated codes shown once, bindings listed and unbound, status --json, stats, scoped export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.bot.reports.test_cli_reports import REPO, run


@pytest.mark.slow
def test_sites_import_list_unbind_status_stats(tmp_path: Path, db_url: str) -> None:
    sample = (REPO / "docs" / "sites.sample.csv").read_text(encoding="utf-8")
    sites = tmp_path / "sites.csv"
    sites.write_text(sample, encoding="utf-8")
    out = run(tmp_path, db_url, "sites", "import", str(sites))
    assert out.returncode == 0 and "新增 3" in out.stdout and "只显示这一次" in out.stdout
    codes = dict(line.split("\t") for line in out.stdout.splitlines() if "\t" in line)
    assert sorted(codes) == ["330102001", "330102002"]  # XH-2027 was given, not generated
    again = run(tmp_path, db_url, "sites", "import", str(sites))
    assert "新增 0，更新 0" in again.stdout and "只显示这一次" not in again.stdout  # shown once

    script = f"/bind 330102001 {codes['330102001'].lower()}\n/zero\n"
    chat = run(tmp_path, db_url, "chat", "--user", "101", "--name", "李主考", stdin=script)
    assert "已绑定考点" in chat.stdout and "零报告（第 1 版" in chat.stdout, chat.stdout
    chat = run(tmp_path, db_url, "chat", "--user", "102", "--name", "王主考",
               stdin="/bind 330106001 xh-2027\n")  # fmt: skip
    assert "已绑定考点" in chat.stdout

    listed = run(tmp_path, db_url, "sites", "list")
    assert "330102001\t杭州第一中学考点\t上城区\t李主考（id 101）" in listed.stdout
    assert "330102002\t杭州第二中学考点\t上城区\t未绑定" in listed.stdout
    assert "共 3 个考点，已绑定 2 个" in listed.stderr
    as_json = json.loads(run(tmp_path, db_url, "sites", "list", "--json").stdout)
    assert as_json[0]["chiefs"][0]["user_id"] == 101

    status = json.loads(run(tmp_path, db_url, "reports", "status", "--json").stdout)
    assert status["deadline"].endswith("20:00:00+08:00") and status["missing"] == [
        "330102002", "330106001"
    ]  # fmt: skip
    first = status["sites"]["reported"] + status["sites"]["late"]
    assert first[0] == {"code": "330102001", "name": "杭州第一中学考点", "district": "上城区",
                        "bound": True, "incidents": 0, "zero_then_incident": False}  # fmt: skip
    text = run(tmp_path, db_url, "reports", "status", "--district", "西湖区").stdout
    assert "范围：西湖区" in text and "- 330106001 西湖高级中学考点（已绑定）" in text
    assert "杭州第一中学" not in text and "迟报 0：" not in text

    stats = run(tmp_path, db_url, "reports", "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    by_code = {s["code"]: s for s in json.loads(stats.stdout)["sites"]}
    assert by_code["330102002"]["missing"] >= 1 and by_code["330102001"]["late_rate"] == 0
    assert "统计（范围：全部考点" in run(tmp_path, db_url, "reports", "stats").stdout

    xlsx = tmp_path / "xh.xlsx"
    out = run(tmp_path, db_url, "reports", "export", "--district", "西湖区", "-o", str(xlsx))
    assert out.returncode == 0, out.stderr
    rows = list(load_workbook(xlsx)["日报"].iter_rows(min_row=2, values_only=True))
    assert [r[2] for r in rows] == ["330106001"]

    out = run(tmp_path, db_url, "sites", "unbind", "330102001", "--user", "101")
    assert out.returncode == 0 and "李主考（id 101）" in out.stdout
    out = run(tmp_path, db_url, "sites", "unbind", "330102001")
    assert out.returncode == 2 and "当前没有绑定" in out.stderr
    assert "未绑定" in run(tmp_path, db_url, "sites", "list").stdout.splitlines()[0]


def test_bad_template_file_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "t.json"
    bad.write_text("{", encoding="utf-8")
    monkeypatch.setenv("REPORT_TEMPLATE_FILE", str(bad))
    out = run(tmp_path, "", "reports", "status")
    assert out.returncode == 1 and "不是合法的 JSON" in out.stderr and "Traceback" not in out.stderr
