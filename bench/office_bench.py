"""A 500-site exam day seen by the office: /status and /summary for the top level (招生办) and
for a 区县 coordinator, through the command layer.

The day: 500 sites in 10 区县, 380 reported on time (300 日报, 80 零报告), 40 late, 80 missing,
30 incidents (5 of them after a 零报告); then the next morning, when all 500 are missing (the
longest /status). Each view is asked 60 times; p50 and p95 are printed,
with the number of messages and the longest one (Telegram takes at most 4,096 characters).
Run on SQLite and on PostgreSQL (BENCH_POSTGRES_URL, default the local test database, in a
throwaway schema). Target: every view under 200 ms p95, every message <= 4,096 characters.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import ms, percentile, postgres_schema, run_main
from bot.core import Core
from bot.messages import Message
from bot.services import build_services
from bot.settings import load_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


class FakeClock:
    """The bench's clock: set to local Asia/Shanghai times by hand."""

    def __init__(self, local: str) -> None:
        self.set(local)

    def set(self, local: str) -> None:
        """Move to a local time."""
        self._now = datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(UTC)

    def now(self) -> datetime:
        """The time set."""
        return self._now


SITES = 500
DISTRICTS = 10
ROUNDS = 60
TOP, DISTRICT = 1, 2


def run_one(label: str, db_url: str | None, data_dir: Path) -> dict[str, float]:
    """Build the day, then time each view."""
    clock = FakeClock("2027-06-07 09:00")
    settings = load_settings(
        None,
        storage={"data_dir": data_dir},
        reports={"database_url": db_url, "coordinator_ids": [TOP], "coordinator_chat_id": -1,
                 "coordinator_scopes": f"{DISTRICT}=区县3"},
    )  # fmt: skip
    services = build_services(settings, reports=True, clock=clock)
    svc = services.reports
    assert svc is not None
    core = Core(services)
    rows = "".join(f"S{i:04d},第{i}考点（一个相当长的学校名称）,区县{i % DISTRICTS},J{i:04d}X\n"
                   for i in range(SITES))  # fmt: skip
    svc.import_sites("code,name,district,join_code\n" + rows)
    for i in range(SITES):
        if i % 25 != 24:  # a few sites have no chief bound
            svc.bind(10_000 + i, f"主考{i}", f"S{i:04d}", f"J{i:04d}X")

    def send(user: int, text: str) -> list[str]:
        return [r.text for r in core.handle(Message(user, user, text, f"u{user}", True))]

    line = "/report 应考300 实考298 缺考2 违纪0 保密室双人值守 设备正常"
    for i in range(SITES):
        if i % 25 == 24 or i >= 460:
            continue  # missing (unbound ones, and the last 40)
        if 420 <= i < 460:
            clock.set("2027-06-07 20:30")  # late
        user = 10_000 + i
        if i % 5 == 0 and i < 420:
            send(user, "/zero")
        else:
            send(user, line)
            send(user, "确认")
        if i % 16 == 0:
            send(user, f"/incident 一般 考点{i}考生携带手机")
    clock.set("2027-06-07 21:00")

    results: dict[str, float] = {}
    print(f"== {label}: {SITES} sites, {DISTRICTS} 区县")
    views = [("top", TOP, c) for c in ("/status", "/summary")]
    views += [("district", DISTRICT, c) for c in ("/status", "/summary")]
    views += [("top-empty", TOP, "/status")]  # the next morning: all 500 missing
    for who, user, command in views:
        if who == "top-empty":
            clock.set("2027-06-08 10:00")
        times: list[float] = []
        texts: list[str] = []
        for _ in range(ROUNDS):
            t = time.perf_counter()
            texts = send(user, command)
            times.append(time.perf_counter() - t)
        longest = max(len(x) for x in texts)
        assert longest <= 4096, f"{command} message of {longest} characters"
        p50, p95 = percentile(times, 50), percentile(times, 95)
        print(f"{command:<9} {who:<9} p50 {ms(p50):>9}  p95 {ms(p95):>9}  "
              f"{len(texts)} message(s), longest {longest} chars"
              + ("" if p95 < 0.2 else "  OVER 200 ms"))  # fmt: skip
        key = f"office_{label.split()[0].lower()}_{who}_{command.strip('/')}"
        results[f"{key}_p95_ms"] = p95 * 1000
    services.close()
    return results


def main() -> dict[str, float]:
    """Run on SQLite, then PostgreSQL."""
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results |= run_one("SQLite", None, Path(tmp))
    print()
    with postgres_schema() as url, tempfile.TemporaryDirectory() as tmp:
        if url is not None:
            results |= run_one("PostgreSQL", url, Path(tmp))
    return results


if __name__ == "__main__":
    run_main(main)
