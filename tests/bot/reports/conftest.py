"""Report fixtures: both databases, a controllable clock and a chat harness over the real core."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.bot.reports.harness import Harness, make_harness
from tests.helpers import PG_URL


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


@pytest.fixture
def h(tmp_path: Path, db_url: str) -> Iterator[Harness]:
    """A harness on each database, with three sites imported."""
    harness = make_harness(tmp_path, db_url)
    yield harness
    harness.services.close()
