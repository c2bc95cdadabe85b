"""The notices outbox under failure: every escalation, reminder and digest is a row queued with
its cause, sent through the real Bot API client (PTB over HTTP to the fake server), marked sent
only once accepted, retried after transient errors, recorded as failed after permanent ones."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.reports.outbox import DeliveryReport, Outbox
from bot.settings import TelegramSettings
from bot.store.db import head_revision
from bot.tg_send import TelegramSender, standalone_bot
from tests.bot.reports.harness import COORDINATOR, COORDINATOR_CHAT, Harness
from tests.helpers import SUBPROCESS_PATH, alembic_to
from tests.telegram.fake_bot_api import FakeBotAPI

CHIEF, OTHER_CHIEF = 101, 102
REPO = Path(__file__).resolve().parents[2]
HEAD = head_revision()


def _outbox(h: Harness) -> Outbox:
    assert h.services.reports is not None
    return h.services.reports.outbox


async def _deliver(h: Harness, api: FakeBotAPI, seconds: float = 5.0,
                   timeout: float = 10.0) -> DeliveryReport:  # fmt: skip
    """Run the sender until nothing is pending (or `seconds` pass); totals of every pass."""
    tg = TelegramSettings(_env_file=None, telegram_bot_token="123456:TEST-TOKEN",
                          telegram_base_url=api.base_url, telegram_timeout=timeout)  # fmt: skip
    total = DeliveryReport()
    deadline = time.monotonic() + seconds
    async with standalone_bot(tg) as bot:
        sender = TelegramSender(bot)
        while time.monotonic() < deadline:
            r = await _outbox(h).deliver(sender)
            total.sent += r.sent
            total.retried += r.retried
            total.failed += r.failed
            if not _outbox(h).notices(status="pending"):
                break
            await asyncio.sleep(0.05)
    return total


def _escalate(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, "/incident 特别重大 保密室试卷袋封条破损 考场=保密室 措施=已封存并报警")
    assert "已同时报送招生办" in h.text(CHIEF, "确认")


def _delivered(api: FakeBotAPI, chat: int) -> list[str]:
    return [c.params["text"] for c in api.sent("sendMessage", chat)]


async def test_escalation_is_queued_with_the_incident_and_sent_once(
    h: Harness, api: FakeBotAPI
) -> None:
    _escalate(h)
    (notice,) = _outbox(h).notices()
    assert notice.kind == "escalation" and notice.status == "pending"  # stored, not yet sent
    report = await _deliver(h, api)
    assert report.sent == 1
    (text,) = _delivered(api, COORDINATOR_CHAT)
    assert "【特别重大事件】" in text and "封条破损" in text and "重发" not in text
    assert [n.status for n in _outbox(h).notices()] == ["sent"]
    await _deliver(h, api)
    assert len(_delivered(api, COORDINATOR_CHAT)) == 1  # never twice


@pytest.mark.parametrize("status", [500, 429])
async def test_transient_errors_are_retried_until_accepted(
    h: Harness, api: FakeBotAPI, status: int
) -> None:
    api.fail("sendMessage", status, retry_after=1 if status == 429 else None, times=5,
             chat_id=COORDINATOR_CHAT)  # fmt: skip
    _escalate(h)
    await _deliver(h, api, seconds=30)
    # Escalations do not give up (max attempts is 3 in this harness): 5 refusals, then accepted.
    assert len([c for c in api.calls if c.method == f"sendMessage!{status}"]) == 5
    (text,) = _delivered(api, COORDINATOR_CHAT)
    assert "重发" not in text  # a refused send never arrived: not a resend
    (notice,) = _outbox(h).notices()
    assert notice.status == "sent" and notice.attempts == 6


@pytest.mark.parametrize(
    ("status", "reason"), [(403, "屏蔽"), (400, "Chat not found")]
)  # fmt: skip
async def test_permanent_errors_are_not_retried_and_shown_in_status(
    h: Harness, api: FakeBotAPI, status: int, reason: str
) -> None:
    api.fail("sendMessage", status, times=10, chat_id=COORDINATOR_CHAT)
    _escalate(h)
    report = await _deliver(h, api, seconds=2)
    assert report.failed == 1 and report.sent == 0
    assert len([c for c in api.calls if c.method.startswith("sendMessage")]) == 1  # one try
    (notice,) = _outbox(h).notices()
    assert notice.status == "failed" and reason in notice.last_error
    status_text = h.text(COORDINATOR, "/status")
    assert "未能送达的通知 1 条" in status_text and reason in status_text
    assert str(COORDINATOR_CHAT) in status_text and "重大事件通报" in status_text


async def test_a_timed_out_send_is_resent_marked_as_a_resend(h: Harness, api: FakeBotAPI) -> None:
    api.slow("sendMessage", 2.0, chat_id=COORDINATOR_CHAT)  # delivered, but answered too late
    _escalate(h)
    await _deliver(h, api, seconds=15, timeout=0.5)
    texts = _delivered(api, COORDINATOR_CHAT)
    assert len(texts) == 2  # at least once: the first may have arrived, so it is sent again
    assert "重发" not in texts[0] and texts[1].startswith("（重发")
    (notice,) = _outbox(h).notices()
    assert notice.status == "sent" and notice.resent


async def test_reminders_give_up_after_max_attempts_and_say_so(h: Harness, api: FakeBotAPI) -> None:
    h.bind(CHIEF)
    api.fail("sendMessage", 500, times=50, chat_id=CHIEF)
    h.clock.set("2027-06-07 19:00")
    assert h.services.notifier is not None
    assert [r.chat_id for r in h.services.notifier.tick(h.services.reports.now())] == [CHIEF]  # type: ignore[union-attr]
    await _deliver(h, api, seconds=5)
    (notice,) = _outbox(h).notices()
    assert notice.status == "failed" and "重试 3 次仍未送达" in notice.last_error
    assert "提醒" in h.text(COORDINATOR, "/status")


async def test_missed_digest_is_caught_up_after_a_day_offline(h: Harness, api: FakeBotAPI) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, "/zero")
    # Down from 06-07 10:00 to 06-08 12:00: neither the 19:00 reminder nor the 20:00 digest ran.
    h.clock.set("2027-06-08 12:00")
    restarted = h.restart()
    assert restarted.services.notifier is not None and restarted.services.reports is not None
    queued = restarted.services.notifier.tick(restarted.services.reports.now())
    assert [r.chat_id for r in queued] == [COORDINATOR_CHAT]
    assert "6月7日" in queued[0].text and "以下 2 个考点未报告" in queued[0].text
    await _deliver(restarted, api)
    assert len(_delivered(api, COORDINATOR_CHAT)) == 1
    assert restarted.services.notifier.tick(restarted.services.reports.now()) == []
    restarted.services.close()
    h.services = restarted.services  # closed above; the fixture's close is then a no-op


def _kaowu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


async def test_reports_tick_sends_through_the_bot_api_or_says_it_cannot(
    h: Harness, api: FakeBotAPI, db_url: str
) -> None:
    _escalate(h)
    env = {**os.environ, "KAOWU_DATA_DIR": str(h.services.settings.data_dir),
           "PYTHONPATH": SUBPROCESS_PATH, "DATABASE_URL": db_url,
           "COORDINATOR_CHAT_ID": str(COORDINATOR_CHAT)}  # fmt: skip
    env.pop("TELEGRAM_BOT_TOKEN", None)
    out = await asyncio.to_thread(_kaowu, env, "reports", "tick")
    assert out.returncode == 1 and "没有设置 TELEGRAM_BOT_TOKEN，无法发送通知" in out.stderr
    assert [n.status for n in _outbox(h).notices()] == ["pending"]  # kept for a later tick
    env |= {
        "TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN",
        "TELEGRAM_BASE_URL": "http://127.0.0.1:9/bot",
    }
    out = await asyncio.to_thread(_kaowu, env, "reports", "tick")
    assert (
        out.returncode == 1 and "无法连接 Telegram" in out.stderr and "Traceback" not in out.stderr
    )
    assert [n.status for n in _outbox(h).notices()] == ["pending"]
    env["TELEGRAM_BASE_URL"] = api.base_url
    out = await asyncio.to_thread(_kaowu, env, "reports", "tick")
    assert out.returncode == 0, out.stderr
    assert "已发送 1 条" in out.stdout
    assert len(_delivered(api, COORDINATOR_CHAT)) == 1
    assert [n.status for n in _outbox(h).notices()] == ["sent"]
    out = await asyncio.to_thread(_kaowu, env, "reports", "tick")
    assert len(_delivered(api, COORDINATOR_CHAT)) == 1  # a second tick sends nothing again


def test_migration_adds_the_outbox_and_keeps_every_row(tmp_path: Path, db_url: str) -> None:
    """From the schema before the outbox (0002) to head, with data in it, on both databases."""
    import sqlalchemy as sa

    from bot.store.db import Database, migrate, normalise_url

    db = Database(normalise_url(db_url or None, tmp_path))
    alembic_to(db.engine, "0002")
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sites (code, name, district, join_code, created_at, "
                             "updated_at) VALUES ('001', '一中', '城区', 'J1', :t, :t)"),
                     {"t": "2027-06-07 01:00:00+00:00"})  # fmt: skip
        conn.execute(sa.text("INSERT INTO reports (site_id, report_date, version, kind, duty, "
                             "equipment, remarks, submitted_by, submitted_name, submitted_at, "
                             "late) VALUES (1, '2027-06-07', 1, 'zero', '', '', '正常', 101, "
                             "'张', :t, false)"), {"t": "2027-06-07 01:00:00+00:00"})  # fmt: skip
    migrate(db.engine)
    migrate(db.engine)  # idempotent
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT remarks FROM reports")).scalar() == "正常"
        # 0005 hashes join codes (tests/bot/reports/test_migration_0005.py)
        assert conn.execute(sa.text("SELECT name FROM sites")).scalar() == "一中"
        assert conn.execute(sa.text("SELECT count(*) FROM notices")).scalar() == 0
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    db.close()


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_telegram_proxy_is_used_for_every_request(
    h: Harness, api: FakeBotAPI, scheme: str
) -> None:
    """With TELEGRAM_PROXY set to a dead proxy, the reachable API is not reached directly."""
    _escalate(h)
    tg = TelegramSettings(_env_file=None, telegram_bot_token="123456:TEST-TOKEN",
                          telegram_base_url=api.base_url, telegram_timeout=2,
                          telegram_proxy=f"{scheme}://127.0.0.1:9")  # fmt: skip
    report = await _outbox(h).deliver(TelegramSender(standalone_bot(tg)))
    assert report.retried == 1 and report.sent == 0  # went to the proxy, which is down
    assert api.sent("sendMessage") == []
    (notice,) = _outbox(h).notices()
    assert notice.status == "pending" and "暂时无法发送" in notice.last_error


async def test_bot_and_cron_tick_sending_at_once_send_each_notice_once(
    h: Harness, api: FakeBotAPI
) -> None:
    """Two senders over one database (the bot's pump and `reports tick`) never double a notice."""
    h.bind(CHIEF)
    for i in range(12):
        h.text(CHIEF, f"/incident 重大 事件{i}号 考场=0{i % 9}")
        h.text(CHIEF, "确认")
    tg = TelegramSettings(_env_file=None, telegram_bot_token="123456:TEST-TOKEN",
                          telegram_base_url=api.base_url)  # fmt: skip
    async with standalone_bot(tg) as one, standalone_bot(tg) as two:
        reports = await asyncio.gather(
            _outbox(h).deliver(TelegramSender(one), run=asyncio.to_thread),
            _outbox(h).deliver(TelegramSender(two), run=asyncio.to_thread),
        )
    assert sum(r.sent for r in reports) == 12
    texts = _delivered(api, COORDINATOR_CHAT)
    assert len(texts) == 12 and len({t.split("\n")[1] for t in texts}) == 12
    assert {n.status for n in _outbox(h).notices()} == {"sent"}
