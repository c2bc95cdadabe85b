"""The real `kaowu run` process against the fake Bot API with faults injected: kill -9 between
a confirmed incident and its alert, Bot API errors at start, secrets kept out of the log, and
sends that must not be retried."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers import SITES_CSV, SUBPROCESS_PATH, eventually
from tests.telegram.conftest import COORD_CHAT, COORDINATOR
from tests.telegram.fake_bot_api import FakeBotAPI

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456:SECRET-TOKEN-abcdefghijklmnopqrstuvwxyz"
CHIEF = 101


def _env(tmp_path: Path, handbook_data: Path, api: FakeBotAPI, **extra: str) -> dict[str, str]:
    data = tmp_path / "data"
    if not (data / "index").exists():
        shutil.copytree(handbook_data / "index", data / "index")
    env = {**os.environ, "PYTHONPATH": SUBPROCESS_PATH, "KAOWU_DATA_DIR": str(data),
           "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_BASE_URL": api.base_url,
           "COORDINATOR_IDS": str(COORDINATOR), "COORDINATOR_CHAT_ID": str(COORD_CHAT),
           "NOTICE_POLL_SECONDS": "0.2", "NOTICE_RETRY_SECONDS": "0.2", **extra}  # fmt: skip
    for name in ("ALLOWED_CHAT_IDS", "DATABASE_URL"):
        env.pop(name, None)
    return env


async def _kaowu(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, env=env, cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _import_sites(env: dict[str, str], tmp_path: Path) -> None:
    csv = tmp_path / "sites.csv"
    csv.write_text(SITES_CSV, encoding="utf-8")
    proc = await _kaowu({k: v for k, v in env.items() if k != "TELEGRAM_BOT_TOKEN"},
                        "sites", "import", str(csv))  # fmt: skip
    _out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


async def _stop(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    return err.decode()


def _alerts(api: FakeBotAPI) -> list[str]:
    return [c.params["text"] for c in api.sent("sendMessage", COORD_CHAT)]


def _between_attempts(db: Path, gap: float = 1.0) -> bool:
    """Whether the escalation's failed attempts are recorded and the next is `gap` s away."""
    with contextlib.closing(sqlite3.connect(db)) as con:
        row = con.execute(
            "SELECT uncertain, next_at FROM notices WHERE kind = 'escalation'"
        ).fetchone()
    if not row or row[0]:
        return False
    due = datetime.fromisoformat(row[1]).replace(tzinfo=UTC)
    return (due - datetime.now(UTC)).total_seconds() >= gap


async def test_kill_9_between_incident_and_alert_then_the_alert_arrives_once(
    tmp_path: Path, handbook_data: Path
) -> None:
    api = FakeBotAPI()
    await api.start()
    env = _env(tmp_path, handbook_data, api)
    await _import_sites(env, tmp_path)
    api.fail("sendMessage", 500, times=10_000, chat_id=COORD_CHAT)  # the alert cannot go out
    proc = await _kaowu(env, "run")
    try:
        await api.wait_for(lambda c: api.sent("setMyCommands"), timeout=90)
        api.say(CHIEF, CHIEF, "/bind 001 AAA111")
        await api.wait_for(lambda c: api.sent("sendMessage", CHIEF), timeout=30)
        api.say(CHIEF, CHIEF, "/incident 重大 保密室门锁被撬 措施=已封锁现场并报警")
        await api.wait_for(lambda c: any("请核对" in x.params.get("text", "")
                                         for x in api.sent("sendMessage", CHIEF)))  # fmt: skip
        api.say(CHIEF, CHIEF, "确认")
        await api.wait_for(lambda c: any("已同时报送招生办" in x.params.get("text", "")
                                         for x in api.sent("sendMessage", CHIEF)))  # fmt: skip
        await api.wait_for(lambda c: any(x.method == "sendMessage!500" for x in c))
        # Kill between attempts: a kill during one would rightly make the next a marked resend.
        db = tmp_path / "data" / "kaowu.sqlite3"
        await eventually(lambda: _between_attempts(db), 60.0,
                         "the escalation never settled between two attempts")  # fmt: skip
        proc.kill()  # kill -9: no shutdown, the alert has not been delivered
        await proc.wait()
        assert _alerts(api) == []
        api._failures.clear()  # Telegram is back
        proc = await _kaowu(env, "run")
        await api.wait_for(lambda c: _alerts(api), timeout=90)
        await api.settle(2.0)  # several more pump rounds: nothing more may come
        (alert,) = _alerts(api)
        assert "【重大事件】001 第一中学考点" in alert and "已封锁现场并报警" in alert
        assert "重发" not in alert  # the killed process never got it through
    finally:
        err = await _stop(proc)
        await api.stop()
    assert TOKEN not in err


async def test_bot_api_errors_at_start_are_retried_with_one_line_each(
    tmp_path: Path, handbook_data: Path
) -> None:
    api = FakeBotAPI()
    await api.start()
    api.fail("setMyCommands", 500, times=2)
    proc = await _kaowu(_env(tmp_path, handbook_data, api), "-v", "run")
    try:
        await api.wait_for(lambda c: api.sent("setMyCommands"), timeout=90)
        api.say(5, 5, "/help")
        await api.wait_for(lambda c: api.sent("sendMessage", 5), timeout=30)
    finally:
        err = await _stop(proc)
        await api.stop()
    assert err.count("设置命令菜单失败（第") == 2 and "（第 2 次）" in err
    assert "Traceback" not in err
    # -v logs every request URL; the token in it is hidden.
    assert "getUpdates" in err and TOKEN not in err and TOKEN.split(":")[1] not in err
    assert "bot***" in err


async def test_telegram_unreachable_at_start_logs_one_chinese_line_per_attempt(
    tmp_path: Path, handbook_data: Path
) -> None:
    api = FakeBotAPI()
    await api.start()
    env = _env(tmp_path, handbook_data, api, TELEGRAM_BASE_URL="http://127.0.0.1:9/bot")
    proc = await _kaowu(env, "run")
    await asyncio.sleep(6)  # attempts after 0, 1, 2 seconds (then 4)
    err = await _stop(proc)
    await api.stop()
    assert err.count("连接 Telegram失败（第") >= 2
    assert "Traceback" not in err and TOKEN not in err


async def test_permanent_errors_on_replies_are_not_retried(tmp_path: Path,
                                                           handbook_data: Path) -> None:  # fmt: skip
    api = FakeBotAPI()
    await api.start()
    proc = await _kaowu(_env(tmp_path, handbook_data, api), "run")
    try:
        await api.wait_for(lambda c: api.sent("setMyCommands"), timeout=90)
        api.fail("sendMessage", 403, times=1, chat_id=7)
        api.fail("sendMessage", 400, times=1, chat_id=8)
        api.say(7, 7, "/help")
        api.say(8, 8, "/help")
        await api.wait_for(
            lambda c: len([x for x in c if x.method.startswith("sendMessage!")]) == 2
        )
        await api.settle(2.0)
        for chat in (7, 8):
            tries = [c for c in api.calls if c.method.startswith("sendMessage")
                     and int(c.params.get("chat_id", 0)) == chat]  # fmt: skip
            # one refused try; the error notice to the user may follow, but no retry of /help
            assert not any("可用命令" in c.params.get("text", "") for c in tries[1:])
    finally:
        await _stop(proc)
        await api.stop()


async def test_one_slow_chat_does_not_hold_up_another_and_order_is_kept(
    tmp_path: Path, handbook_data: Path
) -> None:
    api = FakeBotAPI()
    await api.start()
    proc = await _kaowu(_env(tmp_path, handbook_data, api, TELEGRAM_TIMEOUT="30"), "run")
    try:
        await api.wait_for(lambda c: api.sent("setMyCommands"), timeout=90)
        api.slow("sendMessage", 6.0, chat_id=7)  # chat 7's reply takes 6 s to be accepted
        api.say(7, 7, "/help")
        await api.wait_for(lambda c: api.sent("sendMessage", 7))
        for word in ("/cancel", "/help", "/nosuch"):
            api.say(9, 9, word)
        await api.wait_for(lambda c: len(api.sent("sendMessage", 9)) == 3, timeout=5)
        texts = [c.params["text"] for c in api.sent("sendMessage", 9)]
        assert "没有正在填写" in texts[0] and "/ask" in texts[1] and "nosuch" in texts[2]
    finally:
        await _stop(proc)
        await api.stop()
