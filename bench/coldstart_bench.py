"""Cold start to first answer, and peak memory, of real `kaowu` processes.

Each run starts a new Python process (`kaowu ask --json`) on an index of the seed documents:
imports, model load, catalog and BM25 load, one answer, exit. Target: <= 5 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, median, run_main, shared_dir


def _run(args: list[str], data: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one kaowu process."""
    env = {**os.environ, "KAOWU_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-c",
        "import sys; from bot.cli import main; from bench.common import peak_rss_mb; "
        "rc = main(sys.argv[1:]); print('RSS', peak_rss_mb(), file=sys.stderr); sys.exit(rc)",
        *args,
    ]
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    rss = next(
        float(line.split()[1]) for line in out.stderr.splitlines() if line.startswith("RSS ")
    )
    return wall, rss, out.stdout


def main() -> dict[str, float]:
    """Run the benchmark and print its figures."""
    seeds = shared_dir() / "seeds"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        ingest_s, ingest_rss, _ = _run(["ingest", "-q", str(seeds)], data)
        walls, rss = [], []
        for _ in range(5):
            wall, peak, stdout = _run(["ask", "--json", "保密室值班每班至少要几个人？"], data)
            assert json.loads(stdout)["answered"]
            walls.append(wall)
            rss.append(peak)
    print("== cold start (new process: imports, model, index, one answer)")
    print(
        f"first answer      median {median(walls):.2f} s   max {max(walls):.2f} s  (target <= 5 s)"
    )
    print(f"peak RSS          ask {max(rss):.0f} MB   ingest of the seeds {ingest_rss:.0f} MB")
    return {
        "cold_start_median_s": median(walls),
        "cold_start_max_s": max(walls),
        "ask_peak_rss_mb": max(rss),
        "ingest_peak_rss_mb": ingest_rss,
        "ingest_seeds_s": ingest_s,
    }


if __name__ == "__main__":
    run_main(main)
