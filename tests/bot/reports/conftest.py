"""Report fixtures: both databases, a controllable clock and a chat harness over the real core."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.core import Core
from bot.messages import Message, Reply
from bot.services import Services, build_services
from bot.settings import load_settings

PG_URL = os.environ.get("KAOWU_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SHANGHAI = ZoneInfo("Asia/Shanghai")
COORDINATOR = 900
COORDINATOR_CHAT = -100
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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema in the local PostgreSQL."""
    if request.param == "sqlite":
        yield ""  # empty DATABASE_URL: SQLite in the data dir, the default
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@dataclass
class Harness:
    """Chat with the real core as different users; remembers everything sent to other chats."""

    services: Services
    core: Core
    clock: FakeClock
    outbox: list[Reply] = field(default_factory=list)
    _update: int = 1000

    def say(self, user: int, text: str, chat: int | None = None, name: str = "",
            update_id: int | None = None) -> list[Reply]:  # fmt: skip
        msg = Message(user_id=user, chat_id=user if chat is None else chat, text=text,
                      user_name=name or f"用户{user}", is_private=chat is None or chat == user,
                      update_id=update_id)  # fmt: skip
        replies = self.core.handle(msg)
        self.outbox += [r for r in replies if r.chat_id is not None]
        return replies

    def text(self, user: int, text: str, **kw: Any) -> str:
        """Replies to the sender's own chat, joined."""
        return "\n".join(r.text for r in self.say(user, text, **kw) if r.chat_id is None)

    def bind(self, user: int, code: str = "001", join: str = "AAA111") -> None:
        assert "已绑定" in self.text(user, f"/bind {code} {join}")

    def restart(self) -> Harness:
        """A new process on the same data: new services and core, same database and clock."""
        self.services.close()
        services = build_services(self.services.settings, reports=True, clock=self.clock)
        return Harness(services, Core(services), self.clock)


def make_harness(
    tmp_path: Path, db_url: str, schedule: Path | None = None, **reports: Any
) -> Harness:
    clock = FakeClock()
    settings = load_settings(
        None,
        storage={"data_dir": tmp_path / "data"},
        reports={
            "database_url": db_url or None,
            "coordinator_ids": [COORDINATOR],
            "coordinator_chat_id": COORDINATOR_CHAT,
            "report_deadline": "20:00",
            "reminder_minutes": 60,
            "schedule_file": schedule,
            **reports,
        },
    )
    services = build_services(settings, reports=True, clock=clock)
    assert services.reports is not None
    services.reports.import_sites(SITES_CSV)
    return Harness(services, Core(services), clock)


@pytest.fixture
def h(tmp_path: Path, db_url: str) -> Iterator[Harness]:
    """A harness on each database, with three sites imported."""
    harness = make_harness(tmp_path, db_url)
    yield harness
    harness.services.close()
