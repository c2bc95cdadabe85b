"""Migration 0005 from the schema of 0003 with data in it, on SQLite and PostgreSQL: every row
kept, plaintext join codes hashed and still working (case-insensitively), old reports readable."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.bot.reports.harness import make_harness
from tests.helpers import alembic_to


def test_migration_from_0003_keeps_rows_and_join_codes_work(tmp_path: Path, db_url: str) -> None:

    from bot.store.db import Database, head_revision, normalise_url

    (tmp_path / "data").mkdir()
    db = Database(normalise_url(db_url or None, tmp_path / "data"))
    alembic_to(db.engine, "0003")
    t = {"t": "2027-06-07 01:00:00+00:00"}
    with db.engine.begin() as conn:
        for code, join in (("001", "AAA111"), ("002", "bbb222"), ("003", "CCC333")):
            conn.execute(sa.text("INSERT INTO sites (code, name, district, join_code, created_at, "
                                 "updated_at) VALUES (:c, :n, '城区', :j, :t, :t)"),
                         {"c": code, "n": f"{code}考点", "j": join, **t})  # fmt: skip
        conn.execute(sa.text("INSERT INTO bindings (user_id, user_name, site_id, bound_at) "
                             "VALUES (101, '张', 1, :t)"), t)  # fmt: skip
        conn.execute(sa.text("INSERT INTO reports (site_id, report_date, version, kind, expected, "
                             "present, absent, violations, duty, equipment, remarks, "
                             "submitted_by, submitted_name, submitted_at, late) VALUES (1, "
                             "'2027-06-07', 1, 'full', 300, 298, 2, 0, '双人', '正常', '', 101, "
                             "'张', :t, false)"), t)  # fmt: skip
    db.close()

    # build_services migrates to head; the same data, through the new code (the harness's
    # sites file repeats the same join codes, so a code that matches is not re-hashed)
    h = make_harness(tmp_path, db_url)
    try:
        with h.services.reports.db.engine.connect() as conn:  # type: ignore[union-attr]
            rows = conn.execute(sa.text("SELECT code, join_code, join_hash FROM sites "
                                        "ORDER BY code")).all()  # fmt: skip
            assert [r[1] for r in rows] == ["", "", ""] and all(len(r[2]) == 64 for r in rows)
            assert conn.execute(sa.text("SELECT session, data FROM reports")).one() == ("", "{}")
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            assert version == head_revision()
        assert h.services.reports is not None
        svc = h.services.reports
        old = svc.current_reports(svc.today())[("001", svc.today())]
        assert (old.values["expected"], old.values["duty"], old.kind) == (300, "双人", "full")
        assert svc.site_of(101) is not None  # the binding survived
        assert "已绑定" in h.text(102, "/bind 002 BBB222")  # was stored as bbb222
        assert "已绑定" in h.text(103, "/bind 003 ccc333")
        assert "考点代码或加入码不对" in h.text(104, "/bind 001 AAA112")
        h.text(101, "/report 应考300 实考299 缺考1 违纪0 保密室双人 设备正常")
        assert "日报（第 2 版" in h.text(101, "确认")
    finally:
        h.services.close()
