"""Database engine, sessions and migrations for the reports store.

SQLite (WAL) in the data dir by default; PostgreSQL by DATABASE_URL, accepted as users write it
(`postgresql://user@host:5432/db`). Only the URL differs between the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL: SQLite in `data_dir` when empty, psycopg 3 for plain postgresql://."""
    if not url:
        return f"sqlite:///{data_dir / 'kaowu.sqlite3'}"
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine with the settings each backend needs for concurrent writers."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, **kw
        )

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Take the write lock up front, so two writers never deadlock on an upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        # The driver's own implicit BEGIN is replaced by the one above.
        @event.listens_for(engine, "connect")
        def _no_implicit_begin(conn: Any, _record: Any) -> None:
            conn.isolation_level = None

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20, **kw)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    with resources.as_file(resources.files("bot.reports") / "migrations") as path:
        cfg.set_main_option("script_location", str(path))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


class Database:
    """Engine plus a session factory; one session per unit of work."""

    def __init__(self, url: str, **kw: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kw)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """Whether the backend is SQLite."""
        return self.url.startswith("sqlite")

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()
