"""Users are (platform, platform id): the same core behaviour on Telegram and DingTalk, distinct
people for equal ids, and the migration that moves existing rows to platform "telegram"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.identity import Identities, parse_ref, platform_of
from bot.messages import Message
from tests.bot.reports.conftest import db_url  # noqa: F401  (both databases)
from tests.bot.reports.harness import COORDINATOR, COORDINATOR_CHAT, Harness, make_harness
from tests.helpers import alembic_to

DT_COORD_GROUP = "cidCoordGroup=="
FULL = "应考=300 实考=298 缺考=2 违纪=1 保密室=双人值守 设备=监控屏蔽正常 备注=无"


@pytest.fixture
def h(tmp_path: Path, db_url: str) -> Iterator[Harness]:  # noqa: F811
    """A harness with coordinators and coordinator groups on both platforms."""
    harness = make_harness(
        tmp_path, db_url, coordinator_ids=[COORDINATOR, "dingtalk:manager01"],
    )  # fmt: skip
    yield harness
    harness.services.close()


def _ids(h: Harness) -> Identities:
    assert h.services.identities is not None
    return h.services.identities


@dataclass
class People:
    """One platform's chief, second chief and coordinator, as internal ids."""

    platform: str
    chief: int
    other: int
    coordinator: int


def people(h: Harness, platform: str) -> People:
    if platform == "telegram":
        return People(platform, 101, 102, COORDINATOR)
    ids = _ids(h)
    return People(platform, ids.resolve("dingtalk", "chief01"), ids.resolve("dingtalk", "chief02"),
                  ids.resolve("dingtalk", "manager01"))  # fmt: skip


@pytest.fixture(params=["telegram", "dingtalk"])
def platform(request: pytest.FixtureRequest) -> str:
    """Each chat platform in turn."""
    return str(request.param)


def test_guided_report_and_versions_on_each_platform(h: Harness, platform: str) -> None:
    p = people(h, platform)
    h.bind(p.chief)
    h.text(p.chief, "/report")
    for answer in ("100", "98", "2", "0", "两人值守", "正常"):
        h.text(p.chief, answer)
    assert "请核对" in h.text(p.chief, "无")
    assert "日报（第 1 版" in h.text(p.chief, "确认")
    assert "零报告（第 2 版" in h.text(p.chief, "/zero")
    assert "第2版 零报告" in h.text(p.chief, "/myreports")
    assert "已报 1 个（按时 1，迟报 0）" in h.text(p.coordinator, "/status")


def test_duplicate_delivery_recorded_once_on_each_platform(h: Harness, platform: str) -> None:
    p = people(h, platform)
    h.bind(p.chief)

    def say(text: str, n: int) -> str:
        key = {"update_id": n} if platform == "telegram" else {"delivery_id": f"dt:msg{n}"}
        msg = Message(user_id=p.chief, chat_id=p.chief, text=text, user_name="张", **key)  # type: ignore[arg-type]
        return "\n".join(r.text for r in h.core.handle(msg))

    say(f"/report {FULL}", 1)
    first = say("确认", 2)
    assert say("确认", 2) == first
    assert "第1版" in h.text(p.chief, "/myreports") and "第2版" not in h.text(p.chief, "/myreports")


def test_escalations_and_reminders_carry_their_platform(h: Harness, platform: str) -> None:
    p = people(h, platform)
    h.bind(p.chief)
    h.bind(p.other, "002", "BBB222")
    assert "请核对" in h.text(p.chief, "/incident 重大 保密室门锁被撬 措施=已封锁现场并报警")
    h.text(p.chief, "确认")  # an incident is stored, and escalated, once confirmed
    assert h.services.reports is not None
    outbox = h.services.reports.outbox
    notices = outbox.notices(since_id=h.since)
    # Telegram's coordinator chat, and the DingTalk coordinator in private (no group set).
    dt_coord = _ids(h).resolve("dingtalk", "manager01")
    assert sorted((n.chat_id, platform_of(n.chat_id)) for n in notices) == sorted(
        [(COORDINATOR_CHAT, "telegram"), (dt_coord, "dingtalk")]
    )
    since = outbox.last_id()
    h.text(p.chief, f"/report {FULL}")
    assert "日报（第 1 版" in h.text(p.chief, "确认")
    assert "已向 1 位考点主考发送提醒" in h.text(p.coordinator, "/remind")
    (reminder,) = outbox.notices(since_id=since)
    assert reminder.chat_id == p.other and platform_of(reminder.chat_id) == platform
    assert outbox.due_ids(platform=platform) and reminder.id in outbox.due_ids(platform=platform)
    other = "dingtalk" if platform == "telegram" else "telegram"
    assert reminder.id not in outbox.due_ids(platform=other)  # each sender sends its own


def test_same_numeric_id_on_telegram_and_dingtalk_are_different_people(h: Harness) -> None:
    h.bind(101)  # Telegram user 101
    dt_101 = _ids(h).resolve("dingtalk", "101")
    assert dt_101 != 101 and platform_of(dt_101) == "dingtalk"
    assert "你还没有绑定考点" in h.text(dt_101, "/zero")
    assert "零报告（第 1 版" in h.text(101, "/zero")
    # Telegram coordinator 900 is a coordinator; DingTalk user "900" is not.
    dt_900 = _ids(h).resolve("dingtalk", "900")
    assert "按时" in h.text(COORDINATOR, "/status")
    assert "招生办" in h.text(dt_900, "/status") and "按时" not in h.text(dt_900, "/status")
    who = _ids(h).who(dt_101)
    assert who is not None and (who.platform, who.platform_id) == ("dingtalk", "101")
    assert _ids(h).resolve("dingtalk", "101") == dt_101  # stable


def test_coordinator_refs_name_their_platform() -> None:
    assert parse_ref(123) == ("telegram", "123")
    assert parse_ref("telegram:456") == ("telegram", "456")
    assert parse_ref("dingtalk:manager01") == ("dingtalk", "manager01")
    from bot.settings import load_settings

    s = load_settings(None, reports={"coordinator_ids": "11, telegram:22，dingtalk:manager01"})
    assert s.reports.coordinator_ids == [11, 22, "dingtalk:manager01"]
    with pytest.raises(ValueError, match="dingtalk:用户ID"):
        load_settings(None, reports={"coordinator_ids": "wecom:x"})


def test_migration_moves_existing_rows_to_telegram(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    """From 0003 with data to head, on both databases: rows kept, identities on "telegram"."""

    from bot.store.db import Database, migrate, normalise_url

    db = Database(normalise_url(db_url or None, tmp_path))
    alembic_to(db.engine, "0003")
    t = {"t": "2027-06-07 01:00:00+00:00"}
    with db.engine.begin() as conn:
        for sql in (
            "INSERT INTO sites (code, name, district, join_code, created_at, updated_at) "
            "VALUES ('001', '一中', '城区', 'J1', :t, :t)",
            "INSERT INTO bindings (user_id, user_name, site_id, bound_at) VALUES (101, '张', 1, :t)",
            "INSERT INTO reports (site_id, report_date, version, kind, duty, equipment, remarks, "
            "submitted_by, submitted_name, submitted_at, late) VALUES (1, '2027-06-07', 1, "
            "'zero', '', '', '正常', 101, '张', :t, false)",
            "INSERT INTO incidents (site_id, report_date, level, description, room, occurred, "
            "measures, reported_by, reported_name, reported_at) VALUES (1, '2027-06-07', '重大', "
            "'停电', '', '', '', 102, '李', :t)",
            "INSERT INTO answers (chat_id, user_id, question, answer, answered, mode, citations, "
            "created_at) VALUES (-1001, 103, '问', '答', true, 'extractive', '[]', :t)",
            "INSERT INTO feedback (answer_id, user_id, value, created_at) VALUES (1, 104, 1, :t)",
            "INSERT INTO notices (kind, dedup, chat_id, text, status, attempts, uncertain, resent, "
            "next_at, last_error, created_at) VALUES ('escalation', 'e1', -100, '告警', "
            "'pending', 0, false, false, :t, '', :t)",
        ):
            conn.execute(sa.text(sql), t)
    migrate(db.engine)
    migrate(db.engine)  # idempotent
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, platform, kind, platform_id FROM identities "
                                    "ORDER BY id")).all()  # fmt: skip
        assert [tuple(r) for r in rows] == [
            (-1001, "telegram", "group", "-1001"), (-100, "telegram", "group", "-100"),
            (101, "telegram", "user", "101"), (102, "telegram", "user", "102"),
            (103, "telegram", "user", "103"), (104, "telegram", "user", "104"),
        ]  # fmt: skip
        assert conn.execute(sa.text("SELECT platform, text FROM notices")).one() == (
            "telegram",
            "告警",
        )
        assert conn.execute(sa.text("SELECT remarks FROM reports")).scalar() == "正常"
        assert conn.execute(sa.text("SELECT user_id FROM bindings")).scalar() == 101
    ids = Identities(db)
    assert ids.resolve("telegram", "101") == 101  # existing rows keep meaning the same person
    assert ids.resolve("dingtalk", "101") != 101
    alembic_to(db.engine, "0003", down=True)  # and back down, keeping Telegram's notices
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM notices")).scalar() == 1
    db.close()


def test_a_dingtalk_coordinator_can_be_limited_to_a_district(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    h = make_harness(tmp_path, db_url, coordinator_ids=[COORDINATOR, "dingtalk:manager01"],
                     coordinator_scopes="dingtalk:manager01=开发区")  # fmt: skip
    try:
        manager = _ids(h).resolve("dingtalk", "manager01")
        status = h.text(manager, "/status")
        assert "实验中学考点" in status and "第一中学考点" not in status  # 开发区 only
        assert "第一中学考点" in h.text(COORDINATOR, "/status")  # the top level sees all
    finally:
        h.services.close()
