"""The `kaowu` command line, run as a user runs it (a subprocess with its own data dir)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def kaowu(
    data: Path, *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAOWU_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        env=env,
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def seed_data(tmp_path_factory: pytest.TempPathFactory, seeds: Path) -> Path:
    data = tmp_path_factory.mktemp("cli-data")
    out = kaowu(data, "ingest", "-q", str(seeds), str(REPO / "pyproject.toml"))
    assert out.returncode == 0, out.stderr
    assert "新增 5" in out.stdout
    assert "pyproject.toml：不支持的文件类型 .toml" in out.stderr
    return data


def test_ask_json_prints_one_object(seed_data: Path) -> None:
    out = kaowu(seed_data, "ask", "--json", "考试期间教育局和招生办的负责人能外出吗？")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["answered"] and "不得外出" in data["citations"][0]["quote"]


def test_ask_readable(seed_data: Path) -> None:
    out = kaowu(seed_data, "ask", "保密室值班每班至少要几个人？")
    assert out.returncode == 0
    assert "[1]" in out.stdout and "来源：" in out.stdout and "不少于4人" in out.stdout


def test_ask_batch_keeps_ids_and_reports_bad_lines(seed_data: Path, tmp_path: Path) -> None:
    batch = tmp_path / "q.jsonl"
    batch.write_text(
        '{"id": "a", "question": "谁负责考点周边的交通疏导？"}\n'
        "not json\n"
        '{"id": 7, "question": "今天北京天气怎么样？"}\n',
        encoding="utf-8",
    )
    out = kaowu(seed_data, "ask", "--json", "--batch", str(batch))
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r.get("id") for r in rows] == ["a", None, 7]
    assert rows[0]["answered"] and "交警" in rows[0]["citations"][0]["quote"]
    assert "第 2 行" in rows[1]["error"]
    assert rows[2]["answered"] is False


def test_eval_prints_one_table_for_several_sets(seed_data: Path, shared: Path) -> None:
    sets = [str(shared / "eval" / "questions.jsonl"), str(shared / "eval" / "seeds-more.jsonl")]
    out = kaowu(seed_data, "eval", "--json", *sets)
    data = json.loads(out.stdout)
    assert set(data["sets"]) == {"questions", "seeds-more"}
    assert (
        data["sets"]["questions"]["questions"] == 28
        and data["sets"]["seeds-more"]["questions"] == 50
    )
    assert data["sets"]["questions"]["hit@1"] >= 0.75
    text = kaowu(seed_data, "eval", *sets).stdout
    header = text.splitlines()[0]
    assert "questions" in header and "seeds-more" in header
    assert "hit@3" in text and "拒答率" in text


def test_chat_reads_scripted_lines(seed_data: Path) -> None:
    out = kaowu(
        seed_data,
        "chat",
        stdin="谁负责考点周边的交通疏导？\n\n/ask\n/nosuch\n" + "问" * 400 + "\n你好\n",
    )
    assert out.returncode == 0
    assert "交警" in out.stdout
    assert "考务助手" in out.stdout  # a greeting gets what kaowu can do, not a refusal
    assert "用法：/ask 问题" in out.stdout
    assert "没有 /nosuch 这个命令" in out.stdout
    assert "问题太长" in out.stdout


def test_first_run_ingests_the_sample_handbook(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    out = kaowu(data, "ask", "--json", "考生的手机在考场里响了怎么办？", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "首次运行" in out.stderr
    answer = json.loads(out.stdout)
    assert answer["answered"] and answer["citations"][0]["source"].endswith(".md")


def test_a_folder_of_old_word_files_gets_the_advice_once(tmp_path: Path) -> None:
    folder = tmp_path / "附件"
    folder.mkdir()
    for i in range(1, 5):
        (folder / f"附件{i}.doc").write_bytes(b"\xd0\xcf\x11\xe0 old Word")
    (folder / "通知.txt").write_text("考生须在开考前30分钟进入考场。\n", encoding="utf-8")
    out = kaowu(tmp_path / "data", "ingest", "-q", str(folder))
    assert out.returncode == 0, out.stderr
    assert "新增 1" in out.stdout and "跳过 4" in out.stdout
    lines = [line for line in out.stderr.splitlines() if ".doc" in line]
    assert len(lines) == 1, out.stderr
    assert "附件1.doc、附件2.doc、附件3.doc 等 4 个文件" in lines[0]
    assert "另存为” .docx" in lines[0]


def test_ingest_of_missing_path_fails(tmp_path: Path) -> None:
    out = kaowu(tmp_path / "d", "ingest", "-q", str(tmp_path / "nope"))
    assert out.returncode == 1 and "路径不存在" in out.stderr


def test_bad_setting_and_unreachable_chroma_are_explained(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CHROMA_PORT=abc\n", encoding="utf-8")
    out = kaowu(tmp_path / "d", "ask", "保密室每班几个人", cwd=tmp_path)
    assert (
        out.returncode == 1 and "CHROMA_PORT='abc'" in out.stderr and ".env.example" in out.stderr
    )
    env_file.write_text("CHROMA_HOST=127.0.0.1\nCHROMA_PORT=9\n", encoding="utf-8")
    out = kaowu(tmp_path / "d", "ingest", "-q", str(REPO / "knowledge"), cwd=tmp_path)
    assert out.returncode == 1 and "无法连接 Chroma 服务器 127.0.0.1:9" in out.stderr
