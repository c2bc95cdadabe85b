"""Small helpers shared by several test packages."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
# PYTHONPATH for kaowu processes started by tests: the repository, after a shim that keeps
# their report clock in the daytime (see tests/daytime/sitecustomize.py).
SUBPROCESS_PATH = os.pathsep.join([str(REPO / "tests" / "daytime"), str(REPO)])
PG_URL = os.environ.get("KAOWU_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SHANGHAI = ZoneInfo("Asia/Shanghai")
SITES_CSV = (
    "code,name,district,join_code\n"
    "001,第一中学考点,城区,AAA111\n"
    "002,第二中学考点,城区,BBB222\n"
    "003,实验中学考点,开发区,CCC333\n"
)


class FakeClock:
    """A clock the test moves by hand (local Asia/Shanghai times in, aware UTC out)."""

    def __init__(self, local: str = "2027-06-07 09:00") -> None:
        self.set(local)

    def set(self, local: str) -> None:
        self._now = datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(UTC)

    def now(self) -> datetime:
        return self._now


def alembic_to(engine: Any, revision: str, *, down: bool = False) -> None:
    """Move a test database's schema up (or down) to one migration, to test the next from there."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(REPO / "bot" / "store" / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


async def eventually(
    check: Callable[[], bool],
    timeout: float = 10.0,
    failure: str = "condition did not hold in time",
) -> None:
    """Wait until `check()` holds: a side effect recorded just after a reply goes out."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        await asyncio.sleep(0.02)
