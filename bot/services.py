"""Wiring in one place: settings -> stores -> services. Front ends receive a `Services`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.qa import QAService
from bot.settings import Settings, load_settings
from ingest.pipeline import IngestReport, ingest
from knowledge.embeddings import build_embedder
from knowledge.index import KnowledgeIndex

if TYPE_CHECKING:
    from bot.feedback import AnswerLogService
    from bot.reports.commands import ReportCommands
    from bot.reports.notify import Notifier
    from bot.reports.schedule import Clock
    from bot.reports.service import ReportService
    from bot.store.db import Database


@dataclass
class Services:
    """Everything a front end needs, created by `build_services` and closed with `close`."""

    settings: Settings
    index: KnowledgeIndex
    qa: QAService
    db: Database | None = None
    reports: ReportService | None = None
    notifier: Notifier | None = None
    answers: AnswerLogService | None = None
    report_commands: ReportCommands | None = None

    def close(self) -> None:
        """Release databases and clients."""
        if self.db is not None:
            self.db.close()
        if self.qa.generator is not None:
            self.qa.generator.close()
        self.index.close()


def knowledge_dir(settings: Settings) -> Path:
    """The documents a bare `kaowu ingest` and the first run load."""
    if settings.index.knowledge_dir is not None:
        return settings.index.knowledge_dir
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
        chroma_timeout=settings.index.chroma_timeout,
    )


def build_reports(
    settings: Settings, clock: Clock | None = None
) -> tuple[Database, ReportService, Notifier, ReportCommands, AnswerLogService]:
    """Database (migrated), schedule, report service, notifier, chat commands, answer log."""
    from bot.feedback import AnswerLogService
    from bot.reports.commands import ReportCommands
    from bot.reports.notify import Notifier
    from bot.reports.outbox import Outbox
    from bot.reports.schedule import SystemClock, build_schedule
    from bot.reports.service import ReportService
    from bot.store.db import open_database

    r = settings.reports
    schedule = build_schedule(r.timezone, r.report_deadline, r.reminder_minutes, r.schedule_file)
    db = open_database(r.database_url, settings.data_dir)
    outbox = Outbox(db, r.notice_retry_seconds, r.notice_max_attempts)
    service = ReportService(db, schedule, clock or SystemClock(), outbox)
    notifier = Notifier(service, r.coordinator_chat_id, r.coordinator_ids)
    commands = ReportCommands(service, notifier, r.coordinator_ids)
    commands.web_link = _web_links(settings, db, service)
    return db, service, notifier, commands, AnswerLogService(db, service.clock)


def _web_links(settings: Settings, db: Database, service: ReportService) -> Callable[[int], str]:
    """Sign-in links to the web console for the /web chat command."""
    from web.auth import issue_link

    return lambda user_id: issue_link(db, user_id, service.now(), settings.web.base_url())


def build_services(
    settings: Settings | None = None, *, reports: bool = True, clock: Clock | None = None
) -> Services:
    """Create every store and service from settings (read from the environment if not given)."""
    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    index = build_index(settings)
    generator = reranker = None
    if settings.llm.llm_model:
        from bot.llm import LLMGenerator

        generator = LLMGenerator(settings.llm)
    if settings.llm.reranker:
        from bot.rerank import Reranker

        reranker = Reranker(settings.llm.reranker)
    qa = QAService(index, settings.answer, generator, reranker)
    services = Services(settings=settings, index=index, qa=qa)
    if reports:
        try:
            db, service, notifier, commands, answers = build_reports(settings, clock)
        except Exception:
            index.close()
            raise
        services.db, services.reports, services.notifier = db, service, notifier
        services.answers = answers
        services.report_commands = commands
    return services


def index_warning(services: Services) -> str | None:
    """A line for the operator when the index needs attention (built with another embedder)."""
    import prompts

    built = services.index.built_with_other_embedder()
    if built is None:
        return None
    return prompts.render("embedder_changed", old=built, new=services.settings.index.embeddings)


def ensure_knowledge(services: Services, progress: bool | None = None) -> IngestReport | None:
    """On first run (empty index), ingest the sample handbook so kaowu can answer at once."""
    if services.index.documents():
        return None
    return ingest(
        services.index,
        [knowledge_dir(services.settings)],
        max_chars=services.settings.index.chunk_max_chars,
        progress=progress,
        lock_timeout=services.settings.index.ingest_lock_timeout,
    )
