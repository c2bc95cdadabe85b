"""Fault-injection fixtures: both databases, the chat harness, the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.bot.reports.conftest import db_url  # noqa: F401  (both databases)
from tests.bot.reports.harness import Harness, make_harness
from tests.telegram.conftest import handbook_data  # noqa: F401  (the sample handbook index)
from tests.telegram.fake_bot_api import FakeBotAPI


@pytest.fixture
def h(tmp_path: Path, db_url: str) -> Iterator[Harness]:  # noqa: F811
    """A harness whose outbox retries after 50 ms (not 5 s), on each database."""
    harness = make_harness(tmp_path, db_url, notice_retry_seconds=0.05, notice_max_attempts=3)
    yield harness
    harness.services.close()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """A fake Bot API server on 127.0.0.1."""
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.stop()
