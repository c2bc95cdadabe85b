"""The real PTB Application, polling the fake Bot API server over HTTP."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.services import Services, build_services
from bot.settings import Settings, load_settings
from bot.telegram_app import TelegramBot
from ingest.pipeline import ingest
from tests.helpers import SITES_CSV, FakeClock
from tests.telegram.fake_bot_api import FakeBotAPI

TOKEN = "123456:TEST-TOKEN"
GROUP = -1001  # the staff group
COORD_CHAT = -2002  # the coordinators' chat
COORDINATOR = 900
CHIEF = 101
PROCTOR = 301  # a member of the staff group
OUTSIDER = 666


@pytest.fixture(scope="session")
def handbook_data(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Path:
    """An index of the sample handbook, built once and copied into each test's data dir."""
    from knowledge.index import KnowledgeIndex

    data = tmp_path_factory.mktemp("handbook-data")
    index = KnowledgeIndex(data, lambda: embedder)
    ingest(index, [Path(__file__).resolve().parents[2] / "knowledge"], progress=False)
    index.close()
    return data


@dataclass
class BotEnv:
    """A running bot and the fake server it talks to."""

    api: FakeBotAPI
    bot: TelegramBot
    app: Any
    clock: FakeClock
    settings: Settings

    @property
    def services(self) -> Services:
        assert self.bot.services is not None
        return self.bot.services


async def start_bot(
    tmp_path: Path, handbook_data: Path, clock: FakeClock | None = None,
    before: Callable[[FakeBotAPI], None] | None = None, **telegram: Any,
) -> BotEnv:  # fmt: skip
    api = FakeBotAPI()
    await api.start()
    if before:
        before(api)
    data = tmp_path / "data"
    if not (data / "index").exists():  # a restarted bot keeps the data it had
        shutil.copytree(handbook_data / "index", data / "index")
    clock = clock or FakeClock("2027-06-07 09:00")
    settings = load_settings(
        None,
        storage={"data_dir": data},
        reports={"coordinator_ids": [COORDINATOR], "coordinator_chat_id": COORD_CHAT},
        telegram={
            "telegram_bot_token": TOKEN,
            "telegram_base_url": api.base_url,
            "allowed_chat_ids": [GROUP, COORD_CHAT],
            **telegram,
        },
    )
    api.members[(GROUP, CHIEF)] = "member"
    api.members[(GROUP, PROCTOR)] = "member"

    def factory() -> Services:
        services = build_services(settings, reports=True, clock=clock)
        assert services.reports is not None
        if not services.reports.sites():
            services.reports.import_sites(SITES_CSV)
        return services

    bot = TelegramBot(factory)
    app = bot.build(TOKEN, api.base_url)
    await app.initialize()
    await bot._post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    await app.start()
    return BotEnv(api, bot, app, clock, settings)


async def stop_bot(env: BotEnv) -> None:
    assert env.app.updater is not None
    await env.app.updater.stop()
    await env.app.stop()
    await env.bot._post_shutdown(env.app)
    await env.app.shutdown()
    await env.api.stop()


@pytest.fixture
async def env(tmp_path: Path, handbook_data: Path) -> AsyncIterator[BotEnv]:
    """A bot serving the staff group and the coordinators' chat."""
    e = await start_bot(tmp_path, handbook_data)
    yield e
    await stop_bot(e)
