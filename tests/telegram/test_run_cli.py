"""`kaowu run` as a real process: long polling, webhook mode, and the message without a token."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.telegram.conftest import TOKEN
from tests.telegram.fake_bot_api import FakeBotAPI, chat, user

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, handbook_data: Path, **extra: str) -> dict[str, str]:
    data = tmp_path / "data"
    shutil.copytree(handbook_data / "index", data / "index")
    env = {**os.environ, "PYTHONPATH": str(REPO), "KAOWU_DATA_DIR": str(data), **extra}
    env.pop("ALLOWED_CHAT_IDS", None)
    return env


async def _kaowu(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, env=env, cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_polling_process_answers_and_stops_cleanly(
    tmp_path: Path, handbook_data: Path
) -> None:
    api = FakeBotAPI()
    await api.start()
    proc = await _kaowu(
        _env(tmp_path, handbook_data, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=api.base_url),
        "run",
    )
    try:
        await api.wait_for(lambda c: api.sent("setMyCommands"), timeout=60)
        api.say(5, 5, "监控录像要保存多久？")
        await api.wait_for(lambda c: api.sent("sendMessage", 5), timeout=60)
        assert "六个月" in api.sent("sendMessage", 5)[0].params["text"]
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        await api.stop()
    assert proc.returncode == 0, err.decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_webhook_process_checks_the_secret(tmp_path: Path, handbook_data: Path) -> None:
    api = FakeBotAPI()
    await api.start()
    port = _free_port()
    env = _env(tmp_path, handbook_data, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=api.base_url,
               WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port),
               WEBHOOK_URL="https://kaowu.example.org/telegram", WEBHOOK_SECRET="s3cret")  # fmt: skip
    proc = await _kaowu(env, "run", "--webhook")
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": chat(7), "from": user(7),
                                          "text": "监控录像要保存多久？"}}  # fmt: skip
    try:
        await api.wait_for(lambda c: api.sent("setWebhook"), timeout=60)
        assert api.sent("setWebhook")[0].params["url"] == "https://kaowu.example.org/telegram"
        assert api.sent("setWebhook")[0].params["secret_token"] == "s3cret"
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/telegram"
            for _ in range(100):  # the webhook server comes up after setWebhook
                try:
                    async with http.post(url, json=update, headers={
                        "X-Telegram-Bot-Api-Secret-Token": "wrong"}) as bad:  # fmt: skip
                        assert bad.status == 403
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.2)
            async with http.post(url, json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}) as ok:  # fmt: skip
                assert ok.status == 200
        await api.wait_for(lambda c: api.sent("sendMessage", 7), timeout=60)
        assert "六个月" in api.sent("sendMessage", 7)[0].params["text"]
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 60)
        await api.stop()
    assert proc.returncode == 0


async def test_without_a_token_the_message_says_what_to_do(
    tmp_path: Path, handbook_data: Path
) -> None:
    env = _env(tmp_path, handbook_data)
    env.pop("TELEGRAM_BOT_TOKEN", None)
    proc = await _kaowu(env, "run")
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    text = err.decode()
    assert "TELEGRAM_BOT_TOKEN" in text and "@BotFather" in text and "kaowu chat" in text


async def test_invalid_token_is_explained(tmp_path: Path, handbook_data: Path) -> None:
    api = FakeBotAPI(token=TOKEN)
    await api.start()
    try:
        env = _env(tmp_path, handbook_data, TELEGRAM_BOT_TOKEN="999:WRONG",
                   TELEGRAM_BASE_URL=api.base_url)  # fmt: skip
        proc = await _kaowu(env, "run")
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await api.stop()
    assert proc.returncode == 1 and "TELEGRAM_BOT_TOKEN 无效" in err.decode()
