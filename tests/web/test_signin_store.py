"""Sign-in links and sessions in the database (SQLite and PostgreSQL), the /web chat command,
and the migration that adds their tables to a database holding reports."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.bot.reports.conftest import db_url  # noqa: F401  (the fixture, on both databases)
from tests.bot.reports.harness import COORDINATOR, COORDINATOR_CHAT, make_harness
from tests.helpers import alembic_to
from tests.web.conftest import make_console
from web import auth
from web.app import create_app


def test_web_command_gives_a_coordinator_a_working_single_use_link(
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    h = make_harness(tmp_path, db_url)
    try:
        out = h.text(COORDINATOR, "/web")
        assert "只能用一次" in out and "10 分钟" in out
        url = next(line for line in out.splitlines() if line.startswith("http"))
        assert url.startswith("http://127.0.0.1:8080/login?t=")
        client = TestClient(create_app(h.services))
        path = url.removeprefix("http://127.0.0.1:8080")
        assert client.get(path, follow_redirects=False).status_code == 303
        assert "第一中学考点" in client.get("/").text
        again = TestClient(create_app(h.services)).get(path)
        assert again.status_code == 400 and "已经用过了" in again.text
        # stored hashed: the token itself is nowhere in the database
        token = path.split("t=")[1]
        assert h.services.db is not None
        with h.services.db.engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT token_hash FROM web_links")).scalars().all()
        assert stored and token not in stored
    finally:
        h.services.close()


def test_web_command_is_private_and_for_coordinators_only(tmp_path: Path) -> None:
    h = make_harness(tmp_path, "")
    try:
        assert "私聊" in h.text(COORDINATOR, "/web", chat=COORDINATOR_CHAT)
        assert "http" not in h.text(101, "/web")
        assert "招生办" in h.text(101, "/web")
        assert "/web" in h.text(COORDINATOR, "/help")
        assert "/web" not in h.text(101, "/help")
    finally:
        h.services.close()


def test_two_browsers_racing_for_one_link_get_one_session(
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    c = make_console(tmp_path, db_url)
    try:
        path = c.link()
        results: list[int] = []

        def use() -> None:
            r = TestClient(c.client.app).get(path, follow_redirects=False)
            results.append(r.status_code)

        threads = [threading.Thread(target=use) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [303, 400, 400, 400]
        with c.db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM web_sessions")).scalar() == 1
        assert c.services.reports is not None
        assert auth.logout_all(c.db, c.services.reports.now()) == 1
    finally:
        c.services.close()


def test_migration_adds_web_tables_and_keeps_every_row(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    """From the schema before the console (0003) to head, with data in it, on both databases."""

    from bot.store.db import Database, head_revision, migrate, normalise_url

    db = Database(normalise_url(db_url or None, tmp_path))
    alembic_to(db.engine, "0003")
    t = {"t": "2027-06-07 01:00:00+00:00"}
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sites (code, name, district, join_code, created_at, "
                             "updated_at) VALUES ('001', '一中', '城区', 'J1', :t, :t)"), t)  # fmt: skip
        conn.execute(sa.text("INSERT INTO notices (kind, dedup, chat_id, text, status, attempts, "
                             "uncertain, resent, next_at, last_error, created_at) VALUES "
                             "('reminder', 'r1', 101, '请报告', 'pending', 0, false, false, :t, "
                             "'', :t)"), t)  # fmt: skip
    migrate(db.engine)
    migrate(db.engine)  # idempotent
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM sites")).scalar() is not None
        assert conn.execute(sa.text("SELECT text FROM notices")).scalar() == "请报告"
        assert conn.execute(sa.text("SELECT count(*) FROM web_links")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM web_sessions")).scalar() == 0
        head = head_revision()
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head
    # and back: the downgrade removes only the console's tables
    alembic_to(db.engine, "0003", down=True)
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT text FROM notices")).scalar() == "请报告"
        assert "web_links" not in sa.inspect(conn).get_table_names()
    db.close()


@pytest.mark.parametrize("hours", [0.5])
def test_a_session_ends_when_it_expires(tmp_path: Path, hours: float) -> None:
    c = make_console(tmp_path, web_session_hours=hours)
    try:
        client = c.sign_in()
        assert "第一中学考点" in client.get("/").text
        c.clock.set("2027-06-07 09:31")
        assert "请先登录" in client.get("/").text
    finally:
        c.services.close()


def test_board_and_downloads_keep_to_the_district_on_both_databases(
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    import io

    from openpyxl import load_workbook

    from tests.web.conftest import DISTRICT, TOP, seed

    c = make_console(tmp_path, db_url)
    try:
        seed(c)
        top = c.sign_in(TOP).get("/").text
        assert "第一中学考点" in top and "实验中学考点" in top
        client = c.sign_in(DISTRICT)
        assert "第一中学考点" not in client.get("/").text
        xlsx = client.get("/export.xlsx", params={"start": "2027-06-07", "end": "2027-06-07"})
        wb = load_workbook(io.BytesIO(xlsx.content))
        assert [r[2] for r in wb["日报"].iter_rows(min_row=2, values_only=True)] == ["003"]
        assert [r[1] for r in wb["事件"].iter_rows(min_row=2, values_only=True)] == ["003"]
    finally:
        c.services.close()
