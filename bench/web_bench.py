"""The 招生办工作台 board for 500 sites, rendered server-side: time of GET / per request.

500 sites in 20 区县, 400 bound; a third have reported (some late), 25 incidents. The board is
requested through the real application (FastAPI + Jinja2 over SQLite) as a signed-in coordinator
of every 区县, then as a coordinator of one 区县. Target: p95 < 300 ms server time.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import ms, percentile, run_main
from bot.reports.forms import IncidentForm
from bot.services import build_services
from bot.settings import load_settings

SITES = 500
RUNS = 60


class _Clock:
    def __init__(self) -> None:
        from datetime import UTC, datetime

        self.at = datetime(2027, 6, 7, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai

    def now(self):  # type: ignore[no-untyped-def]
        return self.at


def main() -> dict[str, float]:
    """Build the data, then time the board."""
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from web import auth
    from web.app import create_app
    from web.server import settle

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clock = _Clock()
        settings = load_settings(
            None,
            storage={"data_dir": Path(tmp)},
            reports={"coordinator_ids": [1, 2], "coordinator_chat_id": -1},
            web={"web_coordinator_districts": "2:区3"},
        )
        services = build_services(settings, reports=True, clock=clock)  # type: ignore[arg-type]
        svc = services.reports
        assert svc is not None and services.db is not None
        rows = "".join(f"W{i:04d},第{i}中学考点,区{i % 20},J{i}\n" for i in range(SITES))
        svc.import_sites("code,name,district,join_code\n" + rows)
        for i in range(400):
            svc.bind(10_000 + i, f"主考{i}", f"W{i:04d}", f"J{i}")
        start = clock.at
        for i in range(0, 400, 3):
            # one in ten after the 20:00 deadline (late)
            clock.at = start + timedelta(hours=12 if i % 30 == 0 else 0, seconds=i)
            svc.submit(10_000 + i, f"主考{i}", None)
        clock.at = start + timedelta(hours=1)
        for i in range(1, 400, 16):
            svc.add_incident(10_000 + i, f"主考{i}", IncidentForm("一般", "考场时钟慢两分钟"))
        app = create_app(services)
        settle()  # as `kaowu web` does before serving
        for user, label in ((1, "all"), (2, "district")):
            client = TestClient(app)
            link = auth.issue_link(services.db, user, svc.now(), "http://testserver")
            client.get(link.removeprefix("http://testserver"), follow_redirects=False)
            client.get("/")  # warm: templates compiled, connections open
            times = []
            for _ in range(RUNS):
                t = time.perf_counter()
                r = client.get("/")
                times.append(time.perf_counter() - t)
                assert r.status_code == 200
            p50, p95 = percentile(times, 50), percentile(times, 95)
            shown = r.text.count('<tr class="row-')
            print(f"board GET / ({label}: {shown} sites)  p50 {ms(p50)}  p95 {ms(p95)}"
                  f"  (target p95 < 300 ms)")  # fmt: skip
            results[f"web_board_{label}_p50_ms"] = p50 * 1000
            results[f"web_board_{label}_p95_ms"] = p95 * 1000
        services.close()
    return results


if __name__ == "__main__":
    run_main(main)
