"""`kaowu sites`, `kaowu reports` and a scripted `kaowu chat --user`, as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook

from tests.helpers import SITES_CSV, SUBPROCESS_PATH

REPO = Path(__file__).resolve().parents[3]


def run(
    tmp: Path, db_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SUBPROCESS_PATH, "KAOWU_DATA_DIR": str(tmp / "data"),
           "DATABASE_URL": db_url, "COORDINATOR_IDS": "900", "COORDINATOR_CHAT_ID": "-100"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp)  # fmt: skip


def test_sites_reports_and_scripted_chat(tmp_path: Path, db_url: str) -> None:
    sites = tmp_path / "sites.csv"
    sites.write_text(SITES_CSV, encoding="utf-8")
    out = run(tmp_path, db_url, "sites", "import", str(sites))
    assert out.returncode == 0 and "新增 3" in out.stdout, out.stderr
    assert "新增 0，更新 0" in run(tmp_path, db_url, "sites", "import", str(sites)).stdout

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,name,district,join_code\n009,新考点,城区,X\n010,,城区,Y\n", encoding="utf-8"
    )
    out = run(tmp_path, db_url, "sites", "import", str(bad))
    assert (
        out.returncode == 1
        and "第 3 行缺少 考点名称" in out.stderr
        and "一条都没有写入" in out.stderr
    )
    listed = json.loads(run(tmp_path, db_url, "sites", "list", "--json").stdout)
    assert [s["code"] for s in listed] == ["001", "002", "003"]

    # A chief's session, scripted: one message per line, one reply block per message.
    script = "/bind 001 AAA111\n/report 应考=50 实考=49 缺考=1 违纪=0 保密室=正常 设备=正常\n确认\n"
    chat = run(tmp_path, db_url, "chat", "--user", "101", "--name", "李主考", stdin=script)
    assert chat.returncode == 0, chat.stderr
    assert "已绑定考点" in chat.stdout and "日报（第 1 版" in chat.stdout

    status = json.loads(run(tmp_path, db_url, "reports", "status", "--json").stdout)
    assert status["reported"] + status["late"] == ["001"]
    assert status["missing"] == ["002", "003"]

    xlsx = tmp_path / "day.xlsx"
    out = run(tmp_path, db_url, "reports", "export", "--format", "xlsx", "-o", str(xlsx))
    assert out.returncode == 0, out.stderr
    rows = list(load_workbook(xlsx)["日报"].iter_rows(values_only=True))
    assert rows[1][2] == "001" and rows[1][7:10] == (50, 49, 1)
    csv_out = tmp_path / "range.csv"
    out = run(tmp_path, db_url, "reports", "export", "--from", status["date"], "--to", status["date"],
              "--format", "csv", "-o", str(csv_out))  # fmt: skip
    assert out.returncode == 0 and csv_out.read_text(encoding="utf-8-sig").count("\n") == 4

    bad_date = run(tmp_path, db_url, "reports", "status", "--date", "下周")
    assert bad_date.returncode == 2 and "看不懂日期" in bad_date.stderr


def test_unreachable_database_is_explained(tmp_path: Path) -> None:
    out = run(tmp_path, "postgresql://nobody@127.0.0.1:1/none", "sites", "list")
    assert out.returncode == 1 and "无法连接数据库" in out.stderr
