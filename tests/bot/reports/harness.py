"""A chat harness over the real core, for report tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core import Core
from bot.messages import Message, Reply
from bot.services import Services, build_services
from bot.settings import load_settings
from tests.helpers import SITES_CSV, FakeClock

COORDINATOR = 900
COORDINATOR_CHAT = -100


@dataclass
class Harness:
    """Chat with the real core as different users; remembers everything sent to other chats."""

    services: Services
    core: Core
    clock: FakeClock
    since: int = -1  # notices queued before this harness started are not its own

    def __post_init__(self) -> None:
        if self.since < 0:
            assert self.services.reports is not None
            self.since = self.services.reports.outbox.last_id()

    @property
    def outbox(self) -> list[Reply]:
        """Notices queued for other chats since this harness started (escalations, reminders)."""
        assert self.services.reports is not None
        return [Reply(n.text, chat_id=n.chat_id)
                for n in self.services.reports.outbox.notices(since_id=self.since)]  # fmt: skip

    def say(self, user: int, text: str, chat: int | None = None, name: str = "",
            update_id: int | None = None) -> list[Reply]:  # fmt: skip
        msg = Message(user_id=user, chat_id=user if chat is None else chat, text=text,
                      user_name=name or f"用户{user}", is_private=chat is None or chat == user,
                      update_id=update_id)  # fmt: skip
        return self.core.handle(msg)

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
