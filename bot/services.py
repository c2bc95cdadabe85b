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
    from bot.identity import Identities
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
    identities: Identities | None = None

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
    from bot.reports.scope import Coordinators
    from bot.reports.template import load_template

    schedule = build_schedule(r.timezone, r.report_deadline, r.reminder_minutes, r.schedule_file,
                              r.report_late_cutoff)  # fmt: skip
    template = load_template(r.report_template_file)
    db = open_database(r.database_url, settings.data_dir)
    outbox = Outbox(db, r.notice_retry_seconds, r.notice_max_attempts)
    service = ReportService(db, schedule, clock or SystemClock(), outbox, settings.data_dir,
                            template)  # fmt: skip
    from bot.identity import Identities

    identities = Identities(db)
    people, targets = _coordinators(settings, identities)
    directory = Coordinators(people, r.coordinator_scopes, r.coordinators_file,
                             resolve=identities.resolve_ref)  # fmt: skip
    # Targets are worked out per platform above, so the notifier gets them as its list.
    notifier = Notifier(service, None, targets)
    commands = ReportCommands(service, notifier, people, directory)
    commands.web_link = _web_links(settings, db, service)
    return db, service, notifier, commands, AnswerLogService(db, service.clock)


def _coordinators(settings: Settings, identities: Identities) -> tuple[list[int], list[int]]:
    """Internal ids of the coordinators, and of where escalations and digests go.

    Each platform sends to its coordinator group when one is set, else to its coordinators in
    private.
    """
    from bot.identity import platform_of

    r, dt = settings.reports, settings.dingtalk
    people = [identities.resolve_ref(ref) for ref in r.coordinator_ids]
    people += [identities.resolve("dingtalk", staff) for staff in dt.dingtalk_coordinator_ids]
    people = list(dict.fromkeys(people))
    groups: dict[str, int | None] = {"telegram": r.coordinator_chat_id, "dingtalk": None}
    if dt.dingtalk_coordinator_conversation:
        conv = dt.dingtalk_coordinator_conversation
        groups["dingtalk"] = identities.resolve("dingtalk", conv, "group")
    targets: list[int] = []
    for platform, group in groups.items():
        targets += (
            [group] if group is not None else [p for p in people if platform_of(p) == platform]
        )
    return people, targets


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
        from bot.identity import Identities

        services.identities = Identities(db)
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
