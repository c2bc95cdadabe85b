"""The console's contract as seen from outside: real `kaowu` processes and plain HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SITES = "code,name,district,join_code\nA01,东风中学考点,城区,J1\nB02,南湖中学考点,湖区,J2\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kaowu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _wait_serving(url: str, proc: subprocess.Popen[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"kaowu web exited: {proc.communicate()[1]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError("kaowu web did not start serving")


def test_kaowu_web_serves_on_the_port_and_signs_in_with_a_one_line_link(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "KAOWU_DATA_DIR": str(tmp_path / "data"),
           "COORDINATOR_IDS": "4242", "WEB_PORT": str(port)}  # fmt: skip
    for key in ("DATABASE_URL", "WEB_BASE_URL", "TELEGRAM_BOT_TOKEN"):
        env.pop(key, None)
    sites = tmp_path / "sites.csv"
    sites.write_text(SITES, encoding="utf-8")
    assert _kaowu(env, "sites", "import", str(sites)).returncode == 0
    serve_env = {k: v for k, v in env.items() if k != "WEB_PORT"}  # the port from --port alone
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "web", "--port", str(port)],
                            env=serve_env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_serving(base + "/", proc)
        anonymous = httpx.get(base + "/")
        assert "请先登录" in anonymous.text
        assert "东风中学考点" not in anonymous.text and "南湖中学考点" not in anonymous.text

        out = _kaowu(env, "web", "link", "--user", "4242")
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{base}/login?t=")
        link = lines[0]

        with httpx.Client() as browser:
            r = browser.get(link, follow_redirects=True)
            assert r.status_code == 200
            page = browser.get(base + "/").text
            assert "东风中学考点" in page and "南湖中学考点" in page and "未报" in page
        again = httpx.get(link, follow_redirects=True)
        assert again.status_code == 400 and "已经用过了" in again.text
        assert "东风中学考点" not in again.text

        refused = _kaowu(env, "web", "link", "--user", "77")
        assert (
            refused.returncode == 2 and refused.stdout == "" and "COORDINATOR_IDS" in refused.stderr
        )

        ended = _kaowu(env, "web", "logout-all")
        assert ended.returncode == 0 and "1 个" in ended.stdout
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


async def test_kaowu_run_serves_the_console_when_web_port_is_set_and_web_sends_a_link(
    tmp_path: Path, handbook_index: Path
) -> None:
    import asyncio
    import shutil
    import signal

    from tests.telegram.conftest import TOKEN
    from tests.telegram.fake_bot_api import FakeBotAPI

    api = FakeBotAPI()
    await api.start()
    port = _free_port()
    data = tmp_path / "data"
    shutil.copytree(handbook_index / "index", data / "index")
    env = {**os.environ, "PYTHONPATH": str(REPO), "KAOWU_DATA_DIR": str(data),
           "COORDINATOR_IDS": "4242", "WEB_PORT": str(port), "TELEGRAM_BOT_TOKEN": TOKEN,
           "TELEGRAM_BASE_URL": api.base_url}  # fmt: skip
    for key in ("DATABASE_URL", "WEB_BASE_URL", "ALLOWED_CHAT_IDS"):
        env.pop(key, None)
    sites = tmp_path / "sites.csv"
    sites.write_text(SITES, encoding="utf-8")
    assert (await asyncio.to_thread(_kaowu, env, "sites", "import", str(sites))).returncode == 0
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=env, cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await api.wait_for(lambda c: api.sent("setMyCommands"), timeout=90)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:
            assert "请先登录" in (await client.get(base + "/")).text
        api.say(4242, 4242, "/web")
        await api.wait_for(lambda c: api.sent("sendMessage", 4242), timeout=60)
        reply = api.sent("sendMessage", 4242)[0].params["text"]
        link = next(w for w in reply.split() if w.startswith(base + "/login?t="))
        async with httpx.AsyncClient() as browser:
            await browser.get(link.replace("&amp;", "&"), follow_redirects=True)
            page = (await browser.get(base + "/")).text
        assert "东风中学考点" in page and "南湖中学考点" in page
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        await api.stop()
    assert proc.returncode == 0, err.decode()
