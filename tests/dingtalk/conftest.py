"""The real DingTalk front end (the `dingtalk-stream` SDK client) against the fake DingTalk."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.dingtalk_app import DingTalkBot
from bot.services import Services, build_services
from bot.settings import Settings, load_settings
from tests.dingtalk.fake_dingtalk import CLIENT_ID, CLIENT_SECRET, FakeDingTalk
from tests.helpers import SITES_CSV, FakeClock
from tests.telegram.conftest import handbook_data  # noqa: F401  (the sample handbook index)

STAFF_GROUP = "cidStaffGroup=="  # the exam staff group
COORD_GROUP = "cidCoordGroup=="  # the 招生办 group: escalations and digests
OTHER_GROUP = "cidSomeOtherGroup=="
COORDINATOR = "manager01"
CHIEF = "chief01"
PROCTOR = "proctor01"


@dataclass
class DtEnv:
    """A running DingTalk bot and the fake DingTalk it talks to."""

    fake: FakeDingTalk
    bot: DingTalkBot
    clock: FakeClock
    settings: Settings

    @property
    def services(self) -> Services:
        assert self.bot.services is not None
        return self.bot.services

    def texts(self, target: str) -> list[str]:
        """Every text sent to a staff id or conversation, in order."""
        return [s.text for s in self.fake.to(target)]


def dt_settings(tmp_path: Path, fake: FakeDingTalk, **dingtalk: Any) -> Settings:
    """Settings of a DingTalk deployment served by `fake`."""
    return load_settings(
        None,
        storage={"data_dir": tmp_path / "data"},
        reports={"coordinator_ids": [f"dingtalk:{COORDINATOR}"], "notice_poll_seconds": 0.2},
        dingtalk={
            "dingtalk_client_id": CLIENT_ID,
            "dingtalk_client_secret": CLIENT_SECRET,
            "dingtalk_api_url": fake.url,
            "dingtalk_allowed_conversations": [STAFF_GROUP, COORD_GROUP],
            "dingtalk_coordinator_conversation": COORD_GROUP,
            "dingtalk_timeout": 5.0,
            **dingtalk,
        },
    )


async def start_dt(tmp_path: Path, handbook: Path, clock: FakeClock | None = None,
                   fake: FakeDingTalk | None = None) -> DtEnv:  # fmt: skip
    if fake is None:
        fake = FakeDingTalk()
        await fake.start()
    data = tmp_path / "data"
    if not (data / "index").exists():
        shutil.copytree(handbook / "index", data / "index")
    clock = clock or FakeClock("2027-06-07 09:00")
    settings = dt_settings(tmp_path, fake)

    def factory() -> Services:
        services = build_services(settings, reports=True, clock=clock)
        assert services.reports is not None
        if not services.reports.sites():
            services.reports.import_sites(SITES_CSV)
        return services

    bot = DingTalkBot(factory, settings.dingtalk)
    bot.client.max_delay = 0.5  # reconnect quickly in tests
    await bot.start()
    await bot.client.connected.wait()
    return DtEnv(fake, bot, clock, settings)


async def stop_dt(env: DtEnv, keep_fake: bool = False) -> None:
    await env.bot.close()
    if not keep_fake:
        await env.fake.stop()


@pytest.fixture
async def dt(tmp_path: Path, handbook_data: Path) -> AsyncIterator[DtEnv]:  # noqa: F811
    """A DingTalk bot serving the staff group and the coordinators' group."""
    e = await start_dt(tmp_path, handbook_data)
    yield e
    await stop_dt(e)
