"""Run every benchmark in one process run and print a summary (also saved as JSON)."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from bench import baseline_bench, coldstart_bench, ingest_bench, query_bench, reports_bench


def main() -> None:
    """Run all benchmarks."""
    results: dict[str, float | str] = {"machine": f"{platform.machine()} {platform.processor()}"}
    for bench in (baseline_bench, ingest_bench, query_bench, coldstart_bench, reports_bench):
        results.update(bench.main())
        print()
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
