"""Migration 0004_incident_lifecycle from the landed schema (0003) with data in it, on SQLite
and PostgreSQL: every incident and notice is kept and reads as a first report, version 1."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa

from bot.reports.outbox import Outbox
from bot.reports.schedule import build_schedule
from bot.reports.service import ReportService
from bot.store.db import Database, head_revision, migrate, normalise_url
from tests.helpers import FakeClock, alembic_to

T = {"t": "2027-06-07 01:00:00+00:00"}


def test_migration_keeps_incidents_and_notices(tmp_path: Path, db_url: str) -> None:
    db = Database(normalise_url(db_url or None, tmp_path))
    alembic_to(db.engine, "0003")
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sites (code, name, district, join_code, created_at, "
                             "updated_at) VALUES ('001', '一中', '城区', 'J1', :t, :t)"), T)  # fmt: skip
        conn.execute(sa.text("INSERT INTO bindings (user_id, user_name, site_id, bound_at) "
                             "VALUES (101, '张', 1, :t)"), T)  # fmt: skip
        for n, level in ((1, "重大"), (2, "一般")):
            conn.execute(sa.text(
                "INSERT INTO incidents (site_id, report_date, level, description, room, occurred, "
                "measures, reported_by, reported_name, reported_at) VALUES (1, '2027-06-07', "
                f":level, '事件{n}', '03', '09:40', '已处置', 101, '张', :t)"), {**T, "level": level})  # fmt: skip
        conn.execute(sa.text(
            "INSERT INTO notices (kind, dedup, chat_id, text, status, attempts, uncertain, "
            "resent, next_at, last_error, created_at) VALUES ('escalation', 'escalation:1:-100', "
            "-100, '【重大事件】', 'sent', 1, false, false, :t, '', :t)"), T)  # fmt: skip
    migrate(db.engine)
    migrate(db.engine)  # idempotent
    with db.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert version == head_revision()
        assert conn.execute(sa.text("SELECT choices FROM notices")).scalar() == ""
    schedule = build_schedule("Asia/Shanghai", "20:00", 60, None)
    service = ReportService(db, schedule, FakeClock(), Outbox(db), tmp_path)
    listed = service.incidents(date(2027, 6, 7))
    assert [(i.id, i.level, i.stage, i.version, i.status, i.withdrawn) for i in listed] == [
        (1, "重大", "首报", 1, "处置中", False), (2, "一般", "首报", 1, "处置中", False),
    ]  # fmt: skip
    assert listed[0].description == "事件1" and listed[0].room == "03"
    # the old rows take part in the lifecycle: a follow-up and an acknowledgement
    from bot.reports.incident_forms import IncidentForm

    view, _ = service.add_incident(
        101, "张", IncidentForm("重大", "已恢复"), stage="终报", thread=1
    )
    assert view.thread_id == 1 and view.status == "已处置"
    assert service.acknowledge_incident(1, 900, "李").acknowledged_name == "李"
    db.close()


def test_downgrade_to_0003_keeps_every_incident(tmp_path: Path, db_url: str) -> None:
    db = Database(normalise_url(db_url or None, tmp_path))
    migrate(db.engine)
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sites (code, name, district, join_code, created_at, "
                             "updated_at) VALUES ('001', '一中', '城区', 'J1', :t, :t)"), T)  # fmt: skip
        for n in (1, 2):
            conn.execute(sa.text(
                "INSERT INTO incidents (site_id, report_date, level, description, room, occurred, "
                "measures, reported_by, reported_name, reported_at, stage, thread_id, version, "
                f"withdrawn) VALUES (1, '2027-06-07', '一般', '事件{n}', '', '', '', 101, '张', "
                ":t, :stage, :thread, 1, false)"),
                {**T, "stage": "首报" if n == 1 else "续报", "thread": None if n == 1 else 1})  # fmt: skip
    alembic_to(db.engine, "0003", down=True)
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar() == 2
        columns = {c["name"] for c in sa.inspect(conn).get_columns("incidents")}
        assert "stage" not in columns and "description" in columns
    db.close()
