"""The reports service: every write is one transaction; nothing stored is overwritten.

Writes that come from a platform delivery carry its key, recorded in the same transaction, so a
delivery seen twice is stored once (the second call returns the first result, marked duplicate).
"""

from __future__ import annotations

import csv
import io
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bot.reports.forms import (
    ESCALATED_LEVELS,
    LEVELS,
    FormError,
    IncidentForm,
    ReportForm,
    incident_problems,
)
from bot.reports.limits import LIMITS, clip, field_problem, printable
from bot.reports.outbox import Outbox, PendingNotice
from bot.reports.schedule import Clock, Schedule
from bot.store.db import Database
from bot.store.models import Binding, Incident, ProcessedUpdate, Report, SentNotice, Site

V = TypeVar("V", "ReportView", "IncidentView")


ZERO_TEXT = "今日考务工作正常，无异常情况"
_BATCH = 1000
_Row = TypeVar("_Row", Report, Incident)


class ReportError(ValueError):
    """A request the service refuses; the message (Chinese) says why and what to do."""


class SiteImportError(FormError):
    """A sites file with bad rows; nothing from it was applied."""


@dataclass(frozen=True)
class SiteInfo:
    """A site as shown to users."""

    code: str
    name: str
    district: str


@dataclass(frozen=True)
class ReportView:
    """One stored report version."""

    id: int
    site: SiteInfo
    day: date
    version: int
    kind: str
    values: dict[str, Any]
    submitted_by: int
    submitted_name: str
    submitted_at: datetime
    late: bool


@dataclass(frozen=True)
class IncidentView:
    """One stored incident."""

    id: int
    site: SiteInfo
    day: date
    level: str
    description: str
    room: str
    occurred: str
    measures: str
    reported_name: str
    reported_at: datetime

    @property
    def escalated(self) -> bool:
        """Whether this level goes to the coordinators at once."""
        return self.level in ESCALATED_LEVELS


@dataclass
class DayStatus:
    """Who reported on a day: on time, late, not at all (each site in exactly one list)."""

    day: date
    deadline: datetime
    reported: list[SiteInfo] = field(default_factory=list)
    late: list[SiteInfo] = field(default_factory=list)
    missing: list[SiteInfo] = field(default_factory=list)
    incidents: Counter[str] = field(default_factory=Counter)  # site code -> count
    levels: Counter[str] = field(default_factory=Counter)  # incident level -> count

    def to_json(self) -> dict[str, Any]:
        """The `kaowu reports status --json` object."""
        return {
            "date": self.day.isoformat(),
            "reported": [s.code for s in self.reported],
            "missing": [s.code for s in self.missing],
            "late": [s.code for s in self.late],
        }


@dataclass
class DaySummary:
    """Totals of a day across all sites."""

    day: date
    sites: int
    reported: int
    late: int
    missing: int
    zero: int
    expected: int
    present: int
    absent: int
    violations: int
    incidents: Counter[str]


def _site(s: Site) -> SiteInfo:
    return SiteInfo(s.code, s.name, s.district)


class ReportService:
    """Sites, bindings, reports and incidents."""

    def __init__(
        self, db: Database, schedule: Schedule, clock: Clock, outbox: Outbox | None = None
    ) -> None:
        self.db = db
        self.schedule = schedule
        self.clock = clock
        self.outbox = outbox or Outbox(db)

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
                                key=key, reply=f"{kind}:{view.id}", created_at=self.now()
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
                return (kind, self._view(row)) if row is not None else None
            if kind == "incident":
                inc = s.get(Incident, int(ident))
                return (kind, self._incident_view(inc)) if inc is not None else None
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

    def _reporting_day(self) -> date:
        day = self.today()
        if not self.schedule.is_reporting_day(day):
            raise ReportError(f"今天（{day:%m月%d日}）不是考试日，无需报告。")
        return day

    # ------------------------------------------------------------------ sites
    def import_sites_csv(self, path: Path) -> tuple[int, int]:
        """Import `code,name,district,join_code`; all rows or none. Returns (added, updated)."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SiteImportError([f"无法读取 {path}：{exc.strerror or exc}"]) from exc
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise SiteImportError(["文件编码无法识别，请另存为 UTF-8 的 CSV"])
        return self.import_sites(text)

    def import_sites(self, text: str) -> tuple[int, int]:
        """Import sites from CSV text (see `import_sites_csv`)."""
        reader = csv.reader(io.StringIO(text))
        header = [h.strip().lower() for h in next(reader, [])]
        if header != ["code", "name", "district", "join_code"]:
            raise SiteImportError(["第 1 行表头应为：code,name,district,join_code"])
        rows: dict[str, tuple[str, str, str]] = {}
        problems = []
        for line, row in enumerate(reader, 2):
            if not any(c.strip() for c in row):
                continue
            if len(row) != 4:
                problems.append(
                    f"第 {line} 行应有 4 列（code,name,district,join_code），实际 {len(row)} 列"
                )
                continue
            code, name, district, join = (c.strip() for c in row)
            if not code or not name or not join:
                missing = [
                    n for n, v in (("code", code), ("name", name), ("join_code", join)) if not v
                ]
                problems.append(f"第 {line} 行缺少 {'、'.join(missing)}")
            elif " " in code:
                problems.append(f"第 {line} 行考点代码“{clip(code)}”无效（不能含空格）")
            elif long := next(
                (m for f, v in (("code", code), ("name", name), ("district", district),
                                ("join_code", join)) if (m := field_problem(f, v))), None,
            ):  # fmt: skip
                problems.append(f"第 {line} 行：{long.split('。')[0]}。")
            elif code in rows:
                problems.append(f"第 {line} 行考点代码 {code} 与前面重复")
            else:
                rows[code] = (name, district, join)
        if problems:
            raise SiteImportError(problems)
        now = self.now()
        added = updated = 0
        with self.db.unit() as s:
            existing: dict[str, Site] = {}
            codes = list(rows)
            # In batches: PostgreSQL takes at most 65,535 parameters in one statement.
            for i in range(0, len(codes), _BATCH):
                batch = codes[i : i + _BATCH]
                existing.update(
                    (x.code, x) for x in s.scalars(select(Site).where(Site.code.in_(batch)))
                )
            pending = 0
            for code, (name, district, join) in rows.items():
                site = existing.get(code)
                if site is None:
                    s.add(
                        Site(
                            code=code,
                            name=name,
                            district=district,
                            join_code=join,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    added += 1
                    pending += 1
                    if pending >= _BATCH:
                        s.flush()
                        pending = 0
                elif (site.name, site.district, site.join_code) != (name, district, join):
                    site.name, site.district, site.join_code, site.updated_at = (
                        name,
                        district,
                        join,
                        now,
                    )
                    updated += 1
        return added, updated

    def join_codes(self) -> list[str]:
        """Every site's join code (so logs can hide them)."""
        with self.db.read() as s:
            return list(s.scalars(select(Site.join_code)))

    def had_sites(self, day: date) -> bool:
        """Whether any site had been imported by the end of `day`."""
        end = datetime.combine(
            day + timedelta(days=1), datetime.min.time(), tzinfo=self.schedule.tz
        )
        with self.db.read() as s:
            return (
                s.scalar(select(Site.id).where(Site.created_at < end.astimezone(UTC)).limit(1))
                is not None
            )

    def sites(self, existing_on: date | None = None) -> list[SiteInfo]:
        """All sites by code; with `existing_on`, only those imported by the end of that day."""
        query = select(Site).order_by(Site.code)
        if existing_on is not None:
            end = datetime.combine(existing_on + timedelta(days=1), datetime.min.time(),
                                   tzinfo=self.schedule.tz)  # fmt: skip
            query = query.where(Site.created_at < end.astimezone(UTC))
        with self.db.read() as s:
            return [_site(x) for x in s.scalars(query)]

    # ------------------------------------------------------------------ people
    def bind(self, user_id: int, user_name: str, code: str, join_code: str) -> tuple[SiteInfo, str]:
        """Bind a user to a site. Returns the site and "new" | "same" | "moved"."""
        user_name = printable(user_name)[: LIMITS["user_name"].chars]
        if printable(code) != code or printable(join_code) != join_code:
            raise ReportError(
                "考点代码或加入码不对，未绑定。请向招生办核对后重发：/bind 考点代码 加入码"
            )
        with self.db.unit() as s:
            site = s.scalars(select(Site).where(Site.code == code)).first()
            if site is None or site.join_code != join_code:
                raise ReportError(
                    "考点代码或加入码不对，未绑定。请向招生办核对后重发：/bind 考点代码 加入码"
                )
            current = s.scalars(
                select(Binding).where(Binding.user_id == user_id, Binding.unbound_at.is_(None))
            ).first()
            if current is not None and current.site_id == site.id:
                return _site(site), "same"
            now = self.now()
            outcome = "new"
            if current is not None:
                current.unbound_at = now  # history is kept: the old row stays, closed
                outcome = "moved"
            s.add(Binding(user_id=user_id, user_name=user_name, site_id=site.id, bound_at=now))
            return _site(site), outcome

    def site_of(self, user_id: int) -> SiteInfo | None:
        """The site a user is bound to, if any."""
        with self.db.read() as s:
            b = s.scalars(
                select(Binding).where(Binding.user_id == user_id, Binding.unbound_at.is_(None))
            ).first()
            return _site(b.site) if b else None

    def chiefs(self, codes: list[str]) -> dict[str, list[int]]:
        """User ids currently bound to each of the given sites."""
        out: dict[str, list[int]] = {c: [] for c in codes}
        with self.db.read() as s:
            rows = s.execute(
                select(Site.code, Binding.user_id)
                .join(Binding, Binding.site_id == Site.id)
                .where(Binding.unbound_at.is_(None), Site.code.in_(codes))
            )
            for code, uid in rows:
                out[code].append(int(uid))
        return out

    # ------------------------------------------------------------------ reports
    def submit(
        self, user_id: int, user_name: str, form: ReportForm | None, key: str | None = None
    ) -> tuple[ReportView, bool]:
        """Store a new report version for the user's site and today (`form` None: 零报告).

        Returns the stored version and whether this delivery had been stored before.
        """
        problems = form.problems() if form is not None else []
        if problems:
            raise ReportError("\n".join(problems))
        user_name = printable(user_name)[: LIMITS["user_name"].chars]  # a label, not content

        def write(s: Session) -> ReportView:
            site = self._bound_site(s, user_id, lock=True)
            day = self._reporting_day()
            if form is None:
                n = s.scalar(
                    select(func.count())
                    .select_from(Incident)
                    .where(Incident.site_id == site.id, Incident.report_date == day)
                )
                if n:
                    raise ReportError(
                        f"今天本考点已报告 {n} 起事件，不能再报零报告。请用 /report 填写完整报告。"
                    )
            latest = s.scalar(
                select(func.max(Report.version)).where(
                    Report.site_id == site.id, Report.report_date == day
                )
            )
            now = self.now()
            values = form.values if form is not None else {"remarks": ZERO_TEXT}
            report = Report(
                site=site,
                report_date=day,
                version=(latest or 0) + 1,
                kind="zero" if form is None else "full",
                expected=values.get("expected"),
                present=values.get("present"),
                absent=values.get("absent"),
                violations=values.get("violations"),
                duty=str(values.get("duty", "")),
                equipment=str(values.get("equipment", "")),
                remarks=str(values.get("remarks", "")),
                submitted_by=user_id,
                submitted_name=user_name,
                submitted_at=now,
                late=now > self.schedule.deadline(day),
            )
            s.add(report)
            s.flush()
            return self._view(report)

        return self._once(key, "report", write, lambda s, i: self._view(_must(s.get(Report, i))))

    @staticmethod
    def _view(r: Report) -> ReportView:
        values = {
            "expected": r.expected, "present": r.present, "absent": r.absent,
            "violations": r.violations, "duty": r.duty, "equipment": r.equipment,
            "remarks": r.remarks,
        }  # fmt: skip
        return ReportView(
            r.id,
            _site(r.site),
            r.report_date,
            r.version,
            r.kind,
            values,
            r.submitted_by,
            r.submitted_name,
            _aware(r.submitted_at),
            r.late,
        )

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
            return [self._view(r) for r in rows]

    # ------------------------------------------------------------------ incidents
    def add_incident(
        self,
        user_id: int,
        user_name: str,
        form: IncidentForm,
        key: str | None = None,
        alerts: Callable[[IncidentView], list[PendingNotice]] | None = None,
    ) -> tuple[IncidentView, bool]:
        """Store an incident for the user's site and today; (incident, was_duplicate).

        For an escalated level, the notices from `alerts` are queued in the same transaction,
        so the incident is never stored without its alert.
        """
        if form.level not in LEVELS or not form.description.strip():
            raise ReportError("事件需要级别（一般/较大/重大/特别重大）和经过说明。")
        problems = incident_problems(form)
        if problems:
            raise ReportError("\n".join(problems))
        user_name = printable(user_name)[: LIMITS["user_name"].chars]  # a label, not content

        def write(s: Session) -> IncidentView:
            incident = Incident(
                site=self._bound_site(s, user_id),
                report_date=self.today(),
                level=form.level,
                description=form.description.strip(),
                room=form.room.strip(),
                occurred=form.occurred.strip(),
                measures=form.measures.strip(),
                reported_by=user_id,
                reported_name=user_name,
                reported_at=self.now(),
            )
            s.add(incident)
            s.flush()
            view = self._incident_view(incident)
            if view.escalated and alerts is not None:
                self.outbox.add(s, alerts(view))
            return view

        return self._once(
            key, "incident", write, lambda s, i: self._incident_view(_must(s.get(Incident, i)))
        )

    @staticmethod
    def _incident_view(i: Incident) -> IncidentView:
        return IncidentView(
            i.id,
            _site(i.site),
            i.report_date,
            i.level,
            i.description,
            i.room,
            i.occurred,
            i.measures,
            i.reported_name,
            _aware(i.reported_at),
        )

    def incidents(self, start: date, end: date | None = None) -> list[IncidentView]:
        """Incidents of a day or date range, most severe first."""
        end = end or start
        with self.db.read() as s:
            rows = s.scalars(
                select(Incident)
                .where(Incident.report_date >= start, Incident.report_date <= end)
                .order_by(Incident.report_date, Incident.reported_at)
            )
            views = [self._incident_view(i) for i in rows]
        return sorted(views, key=lambda v: (v.day, -LEVELS.index(v.level)))

    # ------------------------------------------------------------------ overview
    def current_reports(
        self, start: date, end: date | None = None
    ) -> dict[tuple[str, date], ReportView]:
        """The current (highest) version per site and day in a range."""
        end = end or start
        with self.db.read() as s:
            top = (
                select(Report.site_id, Report.report_date, func.max(Report.version).label("v"))
                .where(Report.report_date >= start, Report.report_date <= end)
                .group_by(Report.site_id, Report.report_date)
                .subquery()
            )
            rows = s.scalars(
                select(Report).join(
                    top,
                    (Report.site_id == top.c.site_id)
                    & (Report.report_date == top.c.report_date)
                    & (Report.version == top.c.v),
                )
            )
            return {(r.site.code, r.report_date): self._view(r) for r in rows}

    def _first_submissions(self, day: date) -> dict[str, datetime]:
        with self.db.read() as s:
            rows = s.execute(
                select(Site.code, func.min(Report.submitted_at))
                .join(Report, Report.site_id == Site.id)
                .where(Report.report_date == day)
                .group_by(Site.code)
            )
            return {code: at for code, at in rows}

    def status(self, day: date) -> DayStatus:
        """Reported on time, late, missing — each site once, by code."""
        deadline = self.schedule.deadline(day)
        first = self._first_submissions(day)
        st = DayStatus(day, deadline)
        for site in self.sites(existing_on=day):
            at = first.get(site.code)
            if at is None:
                st.missing.append(site)
            elif _aware(at) > deadline:
                st.late.append(site)
            else:
                st.reported.append(site)
        for inc in self.incidents(day):
            st.incidents[inc.site.code] += 1
            st.levels[inc.level] += 1
        return st

    def summary(self, day: date) -> DaySummary:
        """Totals of a day."""
        st = self.status(day)
        current = self.current_reports(day)
        totals = Counter[str]()
        zero = 0
        for (code, _), r in current.items():
            if r.kind == "zero" and not st.incidents.get(code):
                zero += 1
            for k in ("expected", "present", "absent", "violations"):
                totals[k] += int(r.values[k] or 0)
        return DaySummary(day, len(st.reported) + len(st.late) + len(st.missing),
                          len(st.reported), len(st.late), len(st.missing), zero,
                          totals["expected"], totals["present"], totals["absent"],
                          totals["violations"], st.levels)  # fmt: skip

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


def _must(row: _Row | None) -> _Row:
    if row is None:
        raise ReportError("找不到这条记录")
    return row


def _aware(at: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone columns; they were stored in UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)
