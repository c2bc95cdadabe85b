"""Database engine, sessions and migrations for the reports store.

SQLite (WAL) in the data dir by default; PostgreSQL by DATABASE_URL, accepted as users write it
(`postgresql://user@host:5432/db`). Only the URL differs between the two.
"""

from __future__ import annotations

import threading
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


def make_engine(url: str, *, immediate: bool = True, **kw: Any) -> Engine:
    """An engine with the settings each backend needs for concurrent writers.

    On SQLite, `immediate` makes every transaction take the write lock when it begins, so two
    writers never deadlock upgrading a read lock; read-only engines begin deferred.
    """
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20, **kw)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, **kw
    )

    @event.listens_for(engine, "connect")
    def _connect(conn: Any, _record: Any) -> None:
        conn.isolation_level = None  # the driver's implicit BEGIN is replaced by the one below
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    with resources.as_file(resources.files("bot.store") / "migrations") as path:
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
        if self.is_sqlite:
            # SQLite has one writer at a time; waiting on a lock in this process wakes at once,
            # where the driver's busy handler would sleep in growing steps.
            self._write_lock: threading.Lock | None = threading.Lock()
            self.read_engine = make_engine(url, immediate=False, **kw)
        else:
            self._write_lock = None
            self.read_engine = self.engine
        self._readers = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """Whether the backend is SQLite."""
        return self.url.startswith("sqlite")

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """A session in one write transaction: committed on success, rolled back on any error."""
        if self._write_lock is None:
            with self._sessions() as session, session.begin():
                yield session
            return
        with self._write_lock, self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only (never blocks writers on SQLite's WAL)."""
        with self._readers() as session, session.begin():
            yield session

    def close(self) -> None:
        """Dispose of the connection pools."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
