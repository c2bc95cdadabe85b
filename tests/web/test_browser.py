"""The console in a real headless Chromium (Debian's `chromium`, driven by Playwright).

A coordinator signs in with a link, sees a missing site, reminds it (and the bot's sender
delivers the reminder to the fake Bot API), looks at incidents, uploads a Word document and gets
an answer citing it, and downloads the XLSX. Every page is saved as a screenshot at laptop and
phone width under KAOWU_ARTIFACTS_DIR (default: the test's tmp dir).
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.settings import TelegramSettings
from bot.tg_send import TelegramSender, standalone_bot
from tests.telegram.fake_bot_api import FakeBotAPI
from tests.web.conftest import CHIEF, TOP, Console
from web.server import start_background

pytestmark = pytest.mark.slow
PAGES = {"today": "/", "incidents": "/incidents", "sites": "/sites", "stats": "/stats",
         "knowledge": "/knowledge", "questions": "/questions"}  # fmt: skip
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}


def chromium() -> str:
    """Debian's chromium (installed by `make test`); never a downloaded browser."""
    found = os.environ.get("KAOWU_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        pytest.skip("chromium not installed: apt-get install -y chromium (make test does)")
    return found


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go."""
    root = os.environ.get("KAOWU_ARTIFACTS_DIR")
    path = Path(root) / "web" if root else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def bot_api() -> Iterator[FakeBotAPI]:
    """The fake Bot API, served from its own event loop thread."""
    api = FakeBotAPI()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(api.start(), loop).result(10)
    yield api
    asyncio.run_coroutine_threadsafe(api.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def served(console: Console) -> Iterator[str]:
    """The console served by uvicorn on a free port, as `kaowu run` does beside the bot."""
    from tests.web.conftest import seed

    seed(console)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_background(console.services, "127.0.0.1", port)
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    time.sleep(0.3)


def _deliver(console: Console, api: FakeBotAPI) -> Any:
    """One pass of the bot's notice sender (as `kaowu reports tick` runs it)."""
    tg = TelegramSettings(_env_file=None, telegram_bot_token="123456:TEST-TOKEN",
                          telegram_base_url=api.base_url)  # fmt: skip
    assert console.services.reports is not None

    async def run() -> Any:
        async with standalone_bot(tg) as bot:
            return await console.services.reports.outbox.deliver(TelegramSender(bot))  # type: ignore[union-attr]

    # Playwright's sync API keeps an event loop in this thread; the sender gets its own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(60)


def _docx(path: Path) -> Path:
    from docx import Document

    doc = Document()
    doc.add_heading("考点无人机管控规定", level=1)
    doc.add_heading("第四条 反制设备", level=2)
    doc.add_paragraph("考点应在首科开考前45分钟开启无人机反制设备，由两名专人值守至末科考试结束。")
    doc.save(str(path))
    return path


def test_a_coordinator_works_the_console_in_chromium(
    console: Console, served: str, bot_api: FakeBotAPI, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1366, "height": 768},
                                      accept_downloads=True, locale="zh-CN")  # fmt: skip
        page = context.new_page()
        page.on("dialog", lambda d: d.accept())
        try:
            # sign in with a link: the board, missing sites first
            page.goto(base + "/")
            expect(page.locator("h1")).to_have_text("请先登录")
            page.goto(base + console.link(TOP))
            expect(page.locator("h1")).to_contain_text("今日")
            row = page.locator('tr[data-code="001"]')
            expect(row).to_contain_text("第一中学考点")
            expect(row).to_contain_text("未报")

            # 提醒: queued in the outbox, delivered by the bot's sender to the chief
            row.get_by_role("button", name="提醒").click()
            expect(page.get_by_role("status")).to_contain_text("已发出 1 条提醒")
            report = _deliver(console, bot_api)
            assert report.sent == 1
            sent = bot_api.sent("sendMessage", CHIEF)
            assert len(sent) == 1 and "第一中学考点" in sent[0].params["text"]

            # 事件: the incident, and 已收到 when the report side can record it
            page.get_by_role("link", name="事件").click()
            card = page.locator("article.incident").first
            expect(card).to_contain_text("携带手机")
            ack = card.get_by_role("button", name="已收到")
            ack.click()
            expect(page.locator("article.incident").first).to_contain_text("已收到：")

            # 知识库: upload a Word document, watch it import, ask, get it cited
            page.get_by_role("link", name="知识库").click()
            page.set_input_files('input[type="file"]', str(_docx(tmp_path / "无人机管控规定.docx")))
            page.get_by_role("button", name="上传并导入").click()
            page.wait_for_url("**/knowledge?done=imported", timeout=120_000)
            expect(page.locator("table.board")).to_contain_text("无人机管控规定.docx")
            page.get_by_label("问题").fill("无人机反制设备什么时候开启？")
            page.get_by_role("button", name="提问").click()
            answer = page.locator(".answer")
            expect(answer).to_contain_text("45分钟")
            expect(answer.locator(".cites")).to_contain_text("无人机管控规定")

            # 统计与导出: the XLSX opens and lists the sites
            page.get_by_role("link", name="统计与导出").click()
            expect(page.locator("svg.chart").first).to_be_visible()
            with page.expect_download() as download:
                page.get_by_role("link", name="下载 Excel（XLSX）").click()
            saved = tmp_path / "export.xlsx"
            download.value.save_as(saved)
            wb = load_workbook(io.BytesIO(saved.read_bytes()))
            codes = [r[2] for r in wb["日报"].iter_rows(min_row=2, values_only=True)]
            assert codes == ["001", "002", "003"]

            # every page at laptop and phone width, nothing wider than the screen
            for size, (w, h) in SIZES.items():
                page.set_viewport_size({"width": w, "height": h})
                for name, path in PAGES.items():
                    page.goto(base + path)
                    page.screenshot(path=str(artifacts / f"{name}-{size}.png"), full_page=True)
                    overflow = page.evaluate(
                        "document.documentElement.scrollWidth - window.innerWidth"
                    )
                    assert overflow <= 1, f"{name} scrolls sideways at {size} width"
            assert len(list(artifacts.glob("*.png"))) == len(PAGES) * len(SIZES)
        finally:
            context.close()
            browser.close()
