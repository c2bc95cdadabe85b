"""Helpers shared by the benchmarks."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
