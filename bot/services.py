"""Wiring in one place: settings -> stores -> services. Front ends receive a `Services`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.qa import QAService
from bot.settings import Settings, load_settings
from ingest.embeddings import build_embedder
from ingest.index import KnowledgeIndex
from ingest.pipeline import IngestReport, ingest


@dataclass
class Services:
    """Everything a front end needs, created by `build_services` and closed with `close`."""

    settings: Settings
    index: KnowledgeIndex
    qa: QAService
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Release databases and clients."""
        for extra in self.extras.values():
            closer = getattr(extra, "close", None)
            if callable(closer):
                closer()
        self.index.close()


def knowledge_dir(settings: Settings) -> Path:
    """The documents a bare `kaowu ingest` and the first run load."""
    if settings.index.knowledge_dir is not None:
        return settings.index.knowledge_dir
    local = Path("knowledge")
    if local.is_dir() and any(local.glob("*.md")):
        return local
    import knowledge

    return knowledge.bundled_dir()


def build_index(settings: Settings) -> KnowledgeIndex:
    """The knowledge index on the configured embedder and Chroma (local directory or server)."""
    spec = settings.index.embeddings
    return KnowledgeIndex(
        settings.data_dir,
        lambda: build_embedder(spec),
        chroma_host=settings.index.chroma_host,
        chroma_port=settings.index.chroma_port,
    )


def build_services(settings: Settings | None = None) -> Services:
    """Create every store and service from settings (read from the environment if not given)."""
    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    index = build_index(settings)
    return Services(settings=settings, index=index, qa=QAService(index, settings.answer))


def ensure_knowledge(services: Services, progress: bool | None = None) -> IngestReport | None:
    """On first run (empty index), ingest the sample handbook so kaowu can answer at once."""
    if services.index.documents():
        return None
    return ingest(
        services.index,
        [knowledge_dir(services.settings)],
        max_chars=services.settings.index.chunk_max_chars,
        progress=progress,
    )
