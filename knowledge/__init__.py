"""The sample handbook that kaowu ingests on a new user's first run."""

from __future__ import annotations

from pathlib import Path


def bundled_dir() -> Path:
    """Directory of the bundled sample documents."""
    return Path(__file__).resolve().parent
