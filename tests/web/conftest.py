"""The web console over real services: a SQLite or PostgreSQL report database, a real index."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.services import Services, build_services
from bot.settings import load_settings
from ingest.pipeline import ingest
from tests.helpers import SITES_CSV, FakeClock
from web import auth
from web.app import create_app

TOP = 900  # 招生办, every 区县
DISTRICT = 901  # 招生办 of 开发区 only
OUTSIDER = 666
CHIEF, CHIEF2 = 101, 102


@pytest.fixture(scope="session")
def handbook_index(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Path:
    """The sample handbook's index, built once and copied into each test's data dir."""
    from knowledge.index import KnowledgeIndex

    data = tmp_path_factory.mktemp("web-handbook")
    index = KnowledgeIndex(data, lambda: embedder)
    ingest(index, [Path(__file__).resolve().parents[2] / "knowledge"], progress=False)
    index.close()
    return data


@dataclass
class Console:
    """Services, the app and a browser-less client for it."""

    services: Services
    clock: FakeClock
    client: TestClient

    @property
    def db(self) -> Any:
        assert self.services.db is not None
        return self.services.db

    def link(self, user: int = TOP) -> str:
        """A fresh sign-in URL (path and query) for `user`."""
        assert self.services.reports is not None
        url = auth.issue_link(self.db, user, self.services.reports.now(), "http://testserver")
        return url.removeprefix("http://testserver")

    def sign_in(self, user: int = TOP) -> TestClient:
        """A new client signed in as `user`."""
        client = TestClient(self.client.app)
        r = client.get(self.link(user), follow_redirects=False)
        assert r.status_code == 303, r.text
        return client

    def csrf(self, client: TestClient, path: str = "/") -> str:
        """The CSRF token in a page's forms."""
        import re

        m = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
        assert m, "no form on the page"
        return m.group(1)


def make_console(tmp_path: Path, db_url: str = "", index: Path | None = None,
                 **web: Any) -> Console:  # fmt: skip
    data = tmp_path / "data"
    if index is not None and not (data / "index").exists():
        shutil.copytree(index / "index", data / "index")
    clock = FakeClock("2027-06-07 09:00")
    settings = load_settings(
        None,
        storage={"data_dir": data},
        reports={"database_url": db_url or None, "coordinator_ids": [TOP, DISTRICT],
                 "coordinator_chat_id": -100, "coordinator_scopes": f"{DISTRICT}=开发区"},
        web=web,
    )  # fmt: skip
    services = build_services(settings, reports=True, clock=clock)
    assert services.reports is not None
    services.reports.import_sites(SITES_CSV)
    return Console(services, clock, TestClient(create_app(services)))


@pytest.fixture
def console(tmp_path: Path, handbook_index: Path) -> Iterator[Console]:
    """A console on SQLite with three sites (城区 001, 002; 开发区 003) and the handbook."""
    c = make_console(tmp_path, index=handbook_index)
    yield c
    c.services.close()


def seed(c: Console) -> None:
    """001 missing (chief 101 bound), 002 missing (nobody bound), 003 zero report then incident."""
    from bot.reports.incident_forms import IncidentForm

    reports = c.services.reports
    assert reports is not None
    reports.bind(CHIEF, "张主考", "001", "AAA111")
    reports.bind(CHIEF2, "李主考", "003", "CCC333")
    reports.submit(CHIEF2, "李主考", None)
    reports.add_incident(CHIEF2, "李主考", IncidentForm("较大", "第5考场一名考生携带手机进入考场",
                                                        "第5考场", "09:20", "已没收并记录"))  # fmt: skip


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Console]:
    """A seeded console on SQLite with an empty knowledge index."""
    c = make_console(tmp_path)
    seed(c)
    yield c
    c.services.close()
