"""Helpers shared by the benchmarks."""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def shared_dir() -> Path:
    """../shared next to the checkout (or KAOWU_SHARED_DIR)."""
    for c in (os.environ.get("KAOWU_SHARED_DIR"), REPO.parent / "shared", Path("/work/shared")):
        if c and (Path(c) / "seeds").is_dir():
            return Path(c)
    sys.exit("bench: ../shared/seeds not found; set KAOWU_SHARED_DIR")


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation."""
    data = sorted(values)
    if not data:
        return 0.0
    k = (len(data) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def ms(seconds: float) -> str:
    """Seconds as milliseconds text."""
    return f"{seconds * 1000:.1f} ms"


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    return float(statistics.median(values))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    VmHWM belongs to the current address space, so unlike ru_maxrss it does not carry over the
    parent's peak into a freshly exec'd child on Linux.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_main(main: object) -> None:
    """Run a benchmark's main(); with a path argument, also write its figures there as JSON."""
    import json

    results = main()  # type: ignore[operator]
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(results, ensure_ascii=False, indent=2))


@contextmanager
def postgres_schema() -> Iterator[str | None]:
    """A database URL on a fresh PostgreSQL schema, dropped afterwards (None: unreachable)."""
    import uuid

    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL not reachable at {PG_URL}: {exc.orig}", file=sys.stderr)
        admin.dispose()
        yield None
        return
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
