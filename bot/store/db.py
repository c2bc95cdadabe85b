"""Database engine, sessions and migrations for the reports store.

SQLite (WAL) in the data dir by default; PostgreSQL by DATABASE_URL, accepted as users write it
(`postgresql://user@host:5432/db`). Only the URL differs between the two.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker


class DatabaseUnavailable(RuntimeError):
    """The database cannot be used as configured; the message (Chinese) says why and what to do."""


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

    def __init__(self, url: str, read_only: bool = False, **kw: Any) -> None:
        self.url = url
        self.read_only = read_only
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
        if self.read_only:
            raise DatabaseUnavailable(
                "数据目录是只读的，只能查看，不能写入。请让运行 kaowu 的用户对数据目录有写权限后重试。"
            )
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


def _private_file(path: Path) -> None:
    """Create `path` readable by its owner only (or tighten an existing one)."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    elif path.stat().st_mode & 0o077:
        with contextlib.suppress(PermissionError):  # not ours to change; reading still works
            path.chmod(0o600)


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    with resources.as_file(resources.files("bot.store") / "migrations") as path:
        cfg.set_main_option("script_location", str(path))
        head = ScriptDirectory.from_config(cfg).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def _at_head(engine: Engine) -> bool:
    """Whether the schema is already at the newest migration (nothing to write)."""
    head = head_revision()
    try:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return False
    return current == head


def open_database(url: str | None, data_dir: Path) -> Database:
    """The configured database, migrated; a read-only data directory opens SQLite read-only.

    The SQLite file is created private (0600) in a private data directory (0700): it holds join
    codes and reports.
    """
    if not url:
        data_dir = data_dir.expanduser().resolve()
        path = data_dir / "kaowu.sqlite3"
        if not data_dir.exists():
            data_dir.mkdir(parents=True, mode=0o700)
        writable = os.access(data_dir, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
        if not writable:
            if not path.exists():
                raise DatabaseUnavailable(
                    f"数据目录 {data_dir} 不可写，其中也还没有数据库。请检查目录权限，"
                    "或用 KAOWU_DATA_DIR 指定一个可写的目录。"
                )
            # Read-only: `immutable` lets SQLite read a WAL database without creating its -shm file.
            ro = Database(f"sqlite:///file:{path}?mode=ro&immutable=1&uri=true", read_only=True)
            if not _at_head(ro.engine):
                ro.close()
                raise DatabaseUnavailable(
                    f"数据目录 {data_dir} 不可写，而数据库需要先升级到新版本。"
                    "请以有写权限的用户运行一次 kaowu 后再试。"
                )
            return ro
        _private_file(path)
    try:
        full = normalise_url(url, data_dir)
        make_url(full)
        db = Database(full)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseUnavailable(
            "DATABASE_URL 格式不对，应写成 postgresql://用户@主机:5432/数据库名，"
            "或留空使用数据目录中的 SQLite。"
        ) from exc
    except ImportError as exc:
        raise DatabaseUnavailable(
            f"DATABASE_URL 指定的数据库驱动没有安装（{exc.name}）。PostgreSQL 请写 postgresql://…"
        ) from exc
    try:
        migrate(db.engine)
    except Exception:
        db.close()
        raise
    return db
