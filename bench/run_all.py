"""Run every benchmark, each in its own process (so memory and timing figures are its own),
and save all figures in one JSON file under bench/results/."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHES = (
    "baseline_bench",
    "ingest_bench",
    "bigdoc_bench",
    "query_bench",
    "typo_bench",
    "coldstart_bench",
    "reports_bench",
    "office_bench",
    "web_bench",
    "soak_bench",
    "dingtalk_bench",
)


def main() -> None:
    """Run all benchmarks."""
    results: dict[str, object] = {"machine": f"{platform.machine()} {platform.processor()}"}
    root = Path(__file__).resolve().parent
    for name in BENCHES:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run([sys.executable, "-m", f"bench.{name}", out.name], check=True,
                           cwd=root.parent)  # fmt: skip
            results.update(json.loads(Path(out.name).read_text() or "{}"))
        print()
    folder = root / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
