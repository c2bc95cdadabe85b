"""`kaowu run --platform dingtalk` when DingTalk cannot be used: one Chinese line, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.dingtalk.fake_dingtalk import CLIENT_ID, FakeDingTalk

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), "KAOWU_DATA_DIR": str(tmp_path / "data"), **env}
    for name in ("TELEGRAM_BOT_TOKEN", "PLATFORM"):
        full.pop(name, None)
    return subprocess.run([sys.executable, "-m", "bot.cli", "run", "--platform", "dingtalk"],
                          env=full, cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_dingtalk_at_start_is_one_chinese_line(tmp_path: Path) -> None:
    out = _run(tmp_path, DINGTALK_CLIENT_ID=CLIENT_ID, DINGTALK_CLIENT_SECRET="s",
               DINGTALK_API_URL=f"http://127.0.0.1:{_closed_port()}")  # fmt: skip
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("无法连接钉钉"), out.stderr
    assert "Traceback" not in out.stderr


async def test_wrong_secret_is_named(tmp_path: Path) -> None:
    fake = FakeDingTalk()
    await fake.start()
    try:
        import asyncio

        out = await asyncio.to_thread(_run, tmp_path, DINGTALK_CLIENT_ID=CLIENT_ID,
                                      DINGTALK_CLIENT_SECRET="wrong", DINGTALK_API_URL=fake.url)  # fmt: skip
    finally:
        await fake.stop()
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert "DINGTALK_CLIENT_SECRET" in lines[0] and "wrong" not in lines[0]


def test_missing_credentials_say_where_to_get_them(tmp_path: Path) -> None:
    out = _run(tmp_path)
    assert out.returncode == 1 and "DINGTALK_CLIENT_ID" in out.stderr and "README" in out.stderr
