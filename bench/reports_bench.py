"""5,000 sites submit a day's report through the command layer, from concurrent workers.

Printed per run: the service time of one submission (one worker), then 4,800 more from 4 and
from 8 workers on SQLite and 8 on PostgreSQL, with latency per submission including queueing.

Each site's chief sends `/report <one line>` and then `确认` (the write); one site in ten also
sends `/incident`. Run on SQLite (the default) and on PostgreSQL (BENCH_POSTGRES_URL, default
the local test database, in a throwaway schema). Afterwards the database must hold exactly one
current report per site and every incident. Target on SQLite: all 5,000 in <= 30 s, p95 <= 50 ms.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import ms, percentile, postgres_schema, run_main
from bot.core import Core
from bot.messages import Message
from bot.services import build_services
from bot.settings import load_settings

SITES = 5_000
WORKERS = 8


def run_one(
    label: str, db_url: str | None, data_dir: Path, workers: int = WORKERS
) -> dict[str, float]:
    """Set up 5,000 bound sites, time their submissions, verify what was stored."""
    settings = load_settings(
        None,
        storage={"data_dir": data_dir},
        reports={"database_url": db_url, "coordinator_ids": [1], "coordinator_chat_id": -1},
    )
    services = build_services(settings, reports=True)
    svc = services.reports
    assert svc is not None
    core = Core(services)
    rows = "".join(f"B{i:05d},考点{i},区{i % 20},J{i}\n" for i in range(SITES))
    svc.import_sites("code,name,district,join_code\n" + rows)
    for i in range(SITES):
        svc.bind(10_000 + i, f"主考{i}", f"B{i:05d}", f"J{i}")

    update = iter(range(1, 10**9))
    latencies: list[float] = []
    incident_latencies: list[float] = []

    def send(user: int, text: str) -> str:
        msg = Message(user, user, text, f"主考{user}", True, next(update))
        return "\n".join(r.text for r in core.handle(msg))

    def site(i: int) -> None:
        user = 10_000 + i
        expected = 200 + i % 100
        t = time.perf_counter()
        send(
            user, f"/report 应考={expected} 实考={expected - 1} 缺考=1 违纪=0 保密室=正常 设备=正常"
        )
        reply = send(user, "确认")
        latencies.append(time.perf_counter() - t)
        assert "已保存" in reply, reply
        if i % 10 == 0:
            t = time.perf_counter()
            send(user, f"/incident 一般 考点{i}考生携带手机 考场=01")
            reply = send(user, "确认")  # stored on the one-tap confirmation
            incident_latencies.append(time.perf_counter() - t)
            assert "已记录事件" in reply, reply

    # Service time first: the first 200 sites one after another, no queueing behind other workers.
    for i in range(200):
        site(i)
    service_p50, service_p95 = percentile(latencies, 50), percentile(latencies, 95)
    latencies.clear()
    incident_latencies.clear()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(site, range(200, SITES)))
    wall = time.perf_counter() - t0
    total_wall = wall * SITES / (SITES - 200)  # the 200 sequential ones, at the concurrent rate

    day = svc.today()
    current = svc.current_reports(day)
    incidents = svc.incidents(day)
    assert len(current) == SITES, f"expected {SITES} current reports, found {len(current)}"
    assert all(r.version == 1 for r in current.values())
    assert len(incidents) == SITES // 10, (
        f"expected {SITES // 10} incidents, found {len(incidents)}"
    )
    services.close()

    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    print(f"== {label}: {SITES} sites, {workers} workers, {len(incidents)} incidents")
    print(f"one worker, 200 sites    p50 {ms(service_p50)}  p95 {ms(service_p95)}  (service time)")
    print(f"{SITES - 200} sites, {workers} workers   {wall:6.1f} s   {(SITES - 200) / wall:7.1f} reports/s"
          f"  (5,000 at this rate: {total_wall:.1f} s)")  # fmt: skip
    print(f"report (/report + 确认)  p50 {ms(p50)}  p95 {ms(p95)}")
    print(f"incident                 p50 {ms(percentile(incident_latencies, 50))}  "
          f"p95 {ms(percentile(incident_latencies, 95))}")  # fmt: skip
    print(f"verified: {len(current)} current reports, {len(incidents)} incidents stored")
    key = f"{label.split()[0].lower()}_w{workers}"
    return {
        f"{key}_5000_s": total_wall,
        f"{key}_p50_ms": p50 * 1000,
        f"{key}_p95_ms": p95 * 1000,
        f"{key}_service_p50_ms": service_p50 * 1000,
    }


def main() -> dict[str, float]:
    """Run on SQLite, then PostgreSQL."""
    results: dict[str, float] = {}
    # On two cores, more workers than cores mostly queue for the interpreter: show both.
    for workers in (4, WORKERS):
        with tempfile.TemporaryDirectory() as tmp:
            results |= run_one("SQLite (WAL)", None, Path(tmp), workers)
        print()
    with postgres_schema() as url, tempfile.TemporaryDirectory() as tmp:
        if url is not None:
            results |= run_one("PostgreSQL", url, Path(tmp))
    return results


if __name__ == "__main__":
    run_main(main)
