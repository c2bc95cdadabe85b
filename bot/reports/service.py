"""The reports service: every write is one transaction; nothing stored is overwritten.

Writes that come from a platform delivery carry its key, recorded in the same transaction, so a
delivery seen twice is stored once (the second call returns the first result, marked duplicate).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bot.reports.errors import ReportError, SiteImportError
from bot.reports.forms import ReportForm
from bot.reports.incidents import IncidentBook
from bot.reports.limits import LIMITS, printable
from bot.reports.outbox import Outbox, PendingNotice
from bot.reports.overview import Overview
from bot.reports.schedule import Clock, Schedule
from bot.reports.sites import SiteDirectory
from bot.reports.template import DEFAULT_TEMPLATE, LEGACY_COLUMNS, ReportTemplate
from bot.reports.views import (
    DayStatus,
    DaySummary,
    IncidentView,
    ReportView,
    SiteInfo,
    cn_day,
    report_view,
)
from bot.store.db import Database
from bot.store.models import Binding, Incident, ProcessedUpdate, Report, SentNotice, Site

# Re-exported: callers import the report side's names from the service.
__all__ = [
    "DayStatus", "DaySummary", "IncidentView", "ReportError", "ReportService", "ReportView",
    "SiteImportError", "SiteInfo",
]  # fmt: skip

V = TypeVar("V", "ReportView", "IncidentView")


ZERO_TEXT = "今日考务工作正常，无异常情况"
_Row = TypeVar("_Row", Report, Incident)


class ReportService(IncidentBook, SiteDirectory, Overview):
    """Sites, bindings, reports and incidents."""

    def __init__(
        self,
        db: Database,
        schedule: Schedule,
        clock: Clock,
        outbox: Outbox | None = None,
        data_dir: Path | None = None,
        template: ReportTemplate = DEFAULT_TEMPLATE,
    ) -> None:
        self.db = db
        self.schedule = schedule
        self.clock = clock
        self.outbox = outbox or Outbox(db)
        self.data_dir = data_dir  # where incident photos are kept (attachments/…)
        self.template = template

    # ------------------------------------------------------------------ helpers
    def now(self) -> datetime:
        """Current time from the service clock, in UTC (as stored)."""
        return self.clock.now().astimezone(UTC)

    def today(self) -> date:
        """Today in the configured time zone."""
        return self.schedule.today(self.now())

    def _once(
        self,
        key: str | None,
        kind: str,
        write: Callable[[Session], V],
        load: Callable[[Session, int], V],
    ) -> tuple[V, bool]:
        """Run `write` in one transaction, once per delivery key; (view, was_duplicate).

        The key is recorded in the same transaction, so a delivery seen before fails on its
        primary key and nothing of it is written. Writers for one site are serialised by a row
        lock on the site (`_bound_site`); a version collision, deadlock or lock timeout that still
        happens is retried with a short, growing pause, so a confirmed report is never dropped.
        """
        attempts = 30
        for attempt in range(attempts):
            try:
                with self.db.unit() as s:
                    view = write(s)
                    if key:
                        s.add(
                            ProcessedUpdate(
                                key=key,
                                reply=f"{kind}:{getattr(view, 'row_id', 0) or view.id}",
                                created_at=self.now(),
                            )
                        )
                    return view, False
            except (IntegrityError, OperationalError):
                if key:
                    with self.db.read() as s:
                        seen = s.get(ProcessedUpdate, key)
                        if seen is not None and seen.reply:
                            return load(s, int(seen.reply.split(":")[1])), True
                if attempt == attempts - 1:
                    raise
                time.sleep(min(0.005 * 2**attempt, 0.5) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def redelivered(self, key: str) -> tuple[str, ReportView | IncidentView] | None:
        """What a platform delivery stored when it was first handled, if it was."""
        with self.db.read() as s:
            seen = s.get(ProcessedUpdate, key)
            if seen is None or ":" not in seen.reply:
                return None
            kind, _, ident = seen.reply.partition(":")
            if kind == "report":
                row = s.get(Report, int(ident))
                return (kind, report_view(row)) if row is not None else None
            if kind == "incident":
                inc = s.get(Incident, int(ident))
                return (kind, self._view(s, inc)) if inc is not None else None
            return None

    def _bound_site(self, s: Session, user_id: int, lock: bool = False) -> Site:
        b = s.scalars(
            select(Binding).where(Binding.user_id == user_id, Binding.unbound_at.is_(None))
        ).first()
        if b is None:
            raise ReportError("你还没有绑定考点。请在与我的私聊中发送：/bind 考点代码 加入码")
        if lock and not self.db.is_sqlite:
            # One writer per site at a time on PostgreSQL, so version numbers stay contiguous;
            # SQLite already has a single writer.
            s.execute(select(Site.id).where(Site.id == b.site_id).with_for_update())
        return b.site

    def filing(self) -> tuple[date, str]:
        """The day and session a report sent now is for; ReportError when none can be.

        Shortly after midnight that is the day just ended (filed late); a day not yet reporting,
        or a session day before its first session has begun, is refused.
        """
        day, _after_midnight = self.schedule.filing_day(self.now())
        if not self.schedule.is_reporting_day(day):
            raise ReportError(f"今天（{cn_day(day)}）不是考试日，无需报告。")
        session = self.schedule.session_at(day, self.now())
        sessions = self.schedule.sessions(day)
        if sessions and not session:
            first = sessions[0]
            raise ReportError(
                f"{cn_day(day)}的第一场（{first.key} {first.start:%H:%M}）还没有开始，"
                "开考后再报告。"
            )
        return day, session

    def zero_form(self, args: str) -> ReportForm | None:
        """The figures a 零报告 carries (`/zero 应考300 实考300 缺考0`); None when it has none.

        FormError when the template requires figures that are missing or wrong.
        """
        from bot.reports.forms import FormError, read_report_line

        need = self.template.zero_fields
        if not args.strip() and not need:
            return None
        form, problems = read_report_line(args, self.template)
        if not need and not form.values:
            return None  # "/zero 今日正常": words, not figures
        missing = [self.template.field(n) for n in need if n not in form.values]
        if missing and not problems:
            example = self.template.example_line(need)
            problems.append(f"零报告需要带上：{'、'.join(f.label for f in missing)}。"
                            f"例如：/zero {example}")  # fmt: skip
        problems += [p for p, _ in form.check_problems()]
        if problems:
            raise FormError(problems)
        return form

    # ------------------------------------------------------------------ reports
    def submit(
        self,
        user_id: int,
        user_name: str,
        form: ReportForm | None,
        key: str | None = None,
        zero: ReportForm | None = None,
    ) -> tuple[ReportView, bool]:
        """Store a new report version for the user's site and today (`form` None: 零报告,
        carrying the figures in `zero` when the template asks for them).

        Returns the stored version and whether this delivery had been stored before.
        """
        problems = form.problems() if form is not None else []
        if problems:
            raise ReportError("\n".join(problems))
        if form is None and zero is None and self.template.zero_fields:
            need = self.template.zero_fields
            raise ReportError(
                f"零报告需要带上：{'、'.join(self.template.field(n).label for n in need)}。"
                f"例如：/zero {self.template.example_line(need)}"
            )
        user_name = printable(user_name)[: LIMITS["user_name"].chars]  # a label, not content

        def write(s: Session) -> ReportView:
            site = self._bound_site(s, user_id, lock=True)
            day, session = self.filing()
            if form is None:
                n = self._live_threads(s, site.id, day)
                if n:
                    raise ReportError(
                        f"今天本考点已报告 {n} 起事件，不能再报零报告。请用 /report 填写日报。"
                    )
            # Versions count per site and day across sessions (the unique key predates sessions).
            latest = s.scalar(
                select(func.max(Report.version)).where(
                    Report.site_id == site.id, Report.report_date == day
                )
            )
            now = self.now()
            values: dict[str, int | str] = (
                dict(form.values)
                if form is not None
                else {**(zero.values if zero else {}), "remarks": ZERO_TEXT}
            )
            report = Report(
                site=site,
                report_date=day,
                version=(latest or 0) + 1,
                kind="zero" if form is None else "full",
                **_legacy(values),
                submitted_by=user_id,
                submitted_name=user_name,
                submitted_at=now,
                late=now > self.schedule.deadline(day, session),
                session=session,
                data=json.dumps(values, ensure_ascii=False),
            )
            s.add(report)
            s.flush()
            return report_view(report)

        return self._once(key, "report", write, lambda s, i: report_view(_must(s.get(Report, i))))

    def versions(self, user_id: int, days: int = 7) -> list[ReportView]:
        """Every report version of the user's site in the last `days` days, newest first."""
        with self.db.read() as s:
            site = self._bound_site(s, user_id)
            since = self.today() - timedelta(days=days - 1)
            rows = s.scalars(
                select(Report)
                .where(Report.site_id == site.id, Report.report_date >= since)
                .order_by(Report.report_date.desc(), Report.version.desc())
            )
            return [report_view(r) for r in rows]

    # ------------------------------------------------------------------ notices
    def queue(
        self, notices: list[PendingNotice], marker: tuple[str, date, str] | None = None
    ) -> bool:
        """Queue notices in one transaction, with the run marker that makes them once-only.

        Returns False (and queues nothing) when the marker was already recorded.
        """
        try:
            with self.db.unit() as s:
                if marker is not None:
                    kind, day, target = marker
                    s.add(SentNotice(kind=kind, report_date=day, target=target,
                                     sent_at=self.now()))  # fmt: skip
                    s.flush()
                self.outbox.add(s, notices)
            return True
        except IntegrityError:
            return False

    def mark_sent(self, kind: str, day: date, target: str) -> bool:
        """Record a scheduled notice; False if it had already been sent."""
        try:
            with self.db.unit() as s:
                s.add(SentNotice(kind=kind, report_date=day, target=target, sent_at=self.now()))
            return True
        except IntegrityError:
            return False

    def was_sent(self, kind: str, day: date, target: str) -> bool:
        """Whether a scheduled notice has been sent."""
        with self.db.read() as s:
            return (
                s.scalar(
                    select(func.count())
                    .select_from(SentNotice)
                    .where(
                        SentNotice.kind == kind,
                        SentNotice.report_date == day,
                        SentNotice.target == target,
                    )
                )
                or 0
            ) > 0


def _legacy(values: dict[str, int | str]) -> dict[str, object]:
    """The legacy value columns filled from template values (kept so older readers still work)."""
    out: dict[str, object] = {}
    for name in LEGACY_COLUMNS:
        v = values.get(name)
        if name in ("expected", "present", "absent", "violations"):
            out[name] = v if isinstance(v, int) else None
        else:
            out[name] = "" if v is None else str(v)
    return out


def _must(row: _Row | None) -> _Row:
    if row is None:
        raise ReportError("找不到这条记录")
    return row
