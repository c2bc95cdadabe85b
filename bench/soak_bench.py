"""Soak: the real bot (`kaowu run`, a separate process) against the local fake Bot API at 20
updates/s with 5% of Bot API calls failing (500, 429, or answered after the client timed out).

About 45% of the operations are a report confirmed in two messages, 1.5% a 重大 incident (about
8 a minute, below Telegram's limit of 20 messages a minute to one group, which the rate limiter
keeps), the rest questions and commands.

Afterwards every confirmed report must be stored exactly once and every escalation stored once
and delivered to the coordinators' chat (a second copy only as a marked resend after a timeout).

    python -m bench.soak_bench [OUT.json] [--seconds 300] [--rate 20] [--faults 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from bench.common import REPO, percentile
from tests.telegram.fake_bot_api import FakeBotAPI

TOKEN = "123456:SOAK-TOKEN-abcdefghijklmnopqrstuvwxyz"
COORD_CHAT, COORDINATOR = -2002, 900
SITES = 100
FULL = "应考=300 实考=298 缺考=2 违纪=0 保密室=双人值守 设备=正常"
QUESTIONS = ("监控录像要保存多久？", "保密室每班至少几个人？", "/help", "/myreports")


def _env(data: Path, api: FakeBotAPI) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "KAOWU_DATA_DIR": str(data),
           "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_BASE_URL": api.base_url,
           "TELEGRAM_TIMEOUT": "2", "COORDINATOR_IDS": str(COORDINATOR),
           "COORDINATOR_CHAT_ID": str(COORD_CHAT), "NOTICE_POLL_SECONDS": "1",
           "NOTICE_RETRY_SECONDS": "1"}  # fmt: skip
    for name in ("ALLOWED_CHAT_IDS", "DATABASE_URL", "LLM_MODEL"):
        env.pop(name, None)
    return env


async def _run(seconds: float, rate: float, faults: float) -> dict[str, object]:
    api = FakeBotAPI()
    await api.start()
    tmp = Path(tempfile.mkdtemp(prefix="kaowu-soak-"))
    data = tmp / "data"
    env = _env(data, api)
    csv = tmp / "sites.csv"
    csv.write_text("code,name,district,join_code\n" + "".join(
        f"S{i:03d},第{i}考点,某区,J{i:03d}\n" for i in range(SITES)), encoding="utf-8")  # fmt: skip
    imp = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "sites", "import", str(csv),
        env={k: v for k, v in env.items() if k != "TELEGRAM_BOT_TOKEN"}, cwd=str(tmp))  # fmt: skip
    assert await imp.wait() == 0
    log = (tmp / "bot.log").open("wb")
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=env, cwd=str(tmp),
        stdout=log, stderr=log)  # fmt: skip
    try:
        await api.wait_for(lambda c: api.sent("setMyCommands"), timeout=300)
        chiefs = [10_000 + i for i in range(SITES)]
        for i, uid in enumerate(chiefs):
            api.say(uid, uid, f"/bind S{i:03d} J{i:03d}")
        await api.wait_for(lambda c: all(api.sent("sendMessage", u) for u in chiefs), timeout=120)

        api.chaos = faults
        api.chaos_methods = ("sendMessage", "getUpdates")
        rng = random.Random(1)
        confirmed: list[str] = []
        escalated: dict[str, float] = {}
        pushed = Counter[str]()
        queue: list[tuple[int, str, str]] = []  # (chat, text, kind)
        n = 0
        start = time.monotonic()
        next_at = start
        while time.monotonic() - start < seconds:
            if not queue:
                n += 1
                uid = rng.choice(chiefs)
                roll = rng.random()
                if roll < 0.45:
                    queue += [(uid, f"/report {FULL} 备注=R{n}", "report"),
                              (uid, "确认", f"confirm:R{n}")]  # fmt: skip
                elif roll < 0.465:  # ~8 a minute: below Telegram's 20 a minute to one group
                    queue += [(uid, f"/incident 重大 事件E{n} 考场=01", "incident_echo"),
                              (uid, "确认", f"incident:E{n}")]  # fmt: skip
                else:
                    queue.append((uid, rng.choice(QUESTIONS), "question"))
            uid, text, kind = queue.pop(0)
            api.say(uid, uid, text)
            pushed[kind.split(":")[0]] += 1
            if kind.startswith("confirm:"):
                confirmed.append(kind.split(":")[1])
            elif kind.startswith("incident:"):
                escalated[kind.split(":")[1]] = time.monotonic()
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        elapsed = time.monotonic() - start
        total_pushed = sum(pushed.values())

        # Drain: faults off, wait for every escalation to arrive and the outbox to empty.
        api.chaos = 0.0
        db = sa.create_engine(f"sqlite:///{data / 'kaowu.sqlite3'}")

        def pending() -> int:
            with db.connect() as c:
                return int(c.execute(sa.text(
                    "SELECT count(*) FROM notices WHERE status = 'pending'")).scalar() or 0)  # fmt: skip

        def alerts() -> dict[str, list[tuple[str, float]]]:
            out: dict[str, list[tuple[str, float]]] = {m: [] for m in escalated}
            for c in api.sent("sendMessage", COORD_CHAT):
                t = c.params.get("text", "")
                for marker in escalated:
                    if f"事件{marker}\n" in t or t.endswith(f"事件{marker}"):
                        out[marker].append((t, c.at))
            return out

        drain_start = time.monotonic()
        while time.monotonic() - drain_start < 180:
            got = alerts()
            if pending() == 0 and all(got.values()):
                break
            await asyncio.sleep(1)
        drain = time.monotonic() - drain_start
        await asyncio.sleep(3)
    finally:
        stop_start = time.monotonic()
        if bot.returncode is None:
            bot.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(bot.wait(), 60)
        except TimeoutError:
            bot.kill()
            await bot.wait()
        stop_seconds = time.monotonic() - stop_start
        log.close()
        await api.stop()

    with db.connect() as c:
        stored = Counter(r for (r,) in c.execute(sa.text("SELECT remarks FROM reports")))
        incidents = Counter(d for (d,) in c.execute(sa.text("SELECT description FROM incidents")))
        notice_status = Counter(s for (s,) in c.execute(
            sa.text("SELECT status FROM notices WHERE kind = 'escalation'")))  # fmt: skip
    got = alerts()
    reports_once = sum(1 for m in confirmed if stored.get(m) == 1)
    lost = [m for m in confirmed if not stored.get(m)]
    doubled = [m for m in confirmed if stored.get(m, 0) > 1]
    inc_once = sum(1 for m in escalated if incidents.get(f"事件{m}") == 1)
    delivered_once = sum(1 for m in escalated if len(got[m]) == 1)
    with_resend = [m for m in escalated if len(got[m]) > 1
                   and all(t.startswith("（重发") for t, _ in got[m][1:])]  # fmt: skip
    unexplained = [m for m in escalated if len(got[m]) > 1 and m not in with_resend]
    missing = [m for m in escalated if not got[m]]
    latency = [got[m][0][1] - at for m, at in escalated.items() if got[m]]
    log_text = (tmp / "bot.log").read_text("utf-8", "replace")
    results: dict[str, object] = {
        "soak_seconds": round(elapsed, 1),
        "soak_updates": total_pushed,
        "soak_rate_per_s": round(total_pushed / elapsed, 1),
        "soak_faults_injected": dict(api.injected),
        "soak_reports_confirmed": len(confirmed),
        "soak_reports_stored_once": reports_once,
        "soak_reports_lost": len(lost),
        "soak_reports_doubled": len(doubled),
        "soak_escalations": len(escalated),
        "soak_incidents_stored_once": inc_once,
        "soak_alerts_delivered_once": delivered_once,
        "soak_alerts_resent_marked": len(with_resend),
        "soak_alerts_unmarked_duplicates": len(unexplained),
        "soak_alerts_missing": len(missing),
        "soak_escalation_notices": dict(notice_status),
        "soak_alert_latency_p50_s": round(percentile(latency, 50), 2),
        "soak_alert_latency_p95_s": round(percentile(latency, 95), 2),
        "soak_drain_seconds": round(drain, 1),
        "soak_stop_seconds": round(stop_seconds, 1),
        "soak_token_in_log": TOKEN in log_text,
        "soak_tracebacks_in_log": log_text.count("Traceback"),
    }
    ok = (not lost and not doubled and inc_once == len(escalated) and not missing
          and not unexplained and not results["soak_token_in_log"])  # fmt: skip
    results["soak_ok"] = ok
    return results


def main() -> None:
    """Run the soak and print its figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out", nargs="?", help="write the figures here as JSON")
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--faults", type=float, default=0.05)
    args = p.parse_args()
    results = asyncio.run(_run(args.seconds, args.rate, args.faults))
    print("soak:")
    for key, value in results.items():
        print(f"  {key.removeprefix('soak_')}: {value}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=2))
    if not results["soak_ok"]:
        sys.exit("soak: something was lost or doubled (see above)")


if __name__ == "__main__":
    main()
