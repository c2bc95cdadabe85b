"""Coordinator views over many sites: current reports, who reported, day totals, statistics.

Every view takes a `Scope`: a 区县 coordinator sees only the sites of their 区县.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from bot.reports.schedule import Schedule
from bot.reports.scope import ALL, Scope
from bot.reports.views import (
    DayStatus,
    DaySummary,
    IncidentView,
    ReportView,
    SiteInfo,
    aware,
    report_view,
)
from bot.store.db import Database
from bot.store.models import Binding, Report, Site

COUNTS = ("expected", "present", "absent", "violations")


@dataclass
class SiteStats:
    """One site over a date range."""

    site: SiteInfo
    due: int = 0  # reports due (days × sessions)
    on_time: int = 0
    late: int = 0
    missing: int = 0
    incidents: int = 0

    @property
    def late_rate(self) -> float:
        """Late reports as a share of the reports due."""
        return self.late / self.due if self.due else 0.0


@dataclass
class Stats:
    """Multi-day statistics: late rate per site, incidents by level and by day."""

    start: date
    end: date
    scope: str
    sites: list[SiteStats] = field(default_factory=list)
    by_level: Counter[str] = field(default_factory=Counter)
    by_day: dict[date, Counter[str]] = field(default_factory=dict)


class Overview:
    """The overview part of `ReportService` (a mixin over the service's database and schedule)."""

    db: Database
    schedule: Schedule

    def sites(self, existing_on: date | None = None) -> list[SiteInfo]:
        """All sites (provided by `SiteDirectory`)."""
        raise NotImplementedError

    def incidents(
        self, start: date, end: date | None = None, scope: Scope | None = None
    ) -> list[IncidentView]:
        """Incidents of a range (provided by `ReportService`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ overview
    def current_reports(
        self, start: date, end: date | None = None, session: str = ""
    ) -> dict[tuple[str, date], ReportView]:
        """The current (highest) version per site and day of one session in a range."""
        end = end or start
        with self.db.read() as s:
            top = (
                select(Report.site_id, Report.report_date, func.max(Report.version).label("v"))
                .where(
                    Report.report_date >= start,
                    Report.report_date <= end,
                    Report.session == session,
                )
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
            return {(r.site.code, r.report_date): report_view(r) for r in rows}

    def _current_figures(
        self, day: date, session: str = ""
    ) -> list[tuple[str, str, int | None, int | None, int | None, int | None]]:
        """(code, kind, 应考, 实考, 缺考, 违纪) of each current report: plain rows, no objects,
        so the views of a 500-site day stay fast."""
        with self.db.read() as s:
            top = (
                select(Report.site_id, func.max(Report.version).label("v"))
                .where(Report.report_date == day, Report.session == session)
                .group_by(Report.site_id)
                .subquery()
            )
            rows = s.execute(
                select(Site.code, Report.kind, Report.expected, Report.present, Report.absent,
                       Report.violations)
                .join(Report, Report.site_id == Site.id)
                .join(top, (Report.site_id == top.c.site_id) & (Report.version == top.c.v))
                .where(Report.report_date == day, Report.session == session)
            )  # fmt: skip
            return [tuple(r) for r in rows]  # type: ignore[misc]

    def _first_submissions(self, day: date, session: str = "") -> dict[str, datetime]:
        with self.db.read() as s:
            rows = s.execute(
                select(Site.code, func.min(Report.submitted_at))
                .join(Report, Report.site_id == Site.id)
                .where(Report.report_date == day, Report.session == session)
                .group_by(Site.code)
            )
            return {code: at for code, at in rows}

    def bound_codes(self) -> set[str]:
        """Codes of the sites a chief is bound to now."""
        with self.db.read() as s:
            return set(
                s.scalars(
                    select(Site.code)
                    .join(Binding, Binding.site_id == Site.id)
                    .where(Binding.unbound_at.is_(None))
                )
            )

    def zero_then_incident(self, day: date) -> set[str]:
        """Sites whose 零报告 of `day` was followed by an incident (provided by `IncidentBook`)."""
        raise NotImplementedError

    def status(self, day: date, session: str = "", scope: Scope | None = None) -> DayStatus:
        """Reported on time, late, missing — each site (of `scope`) once, by code."""
        scope = scope or ALL
        deadline = self.schedule.deadline(day, session)
        first = self._first_submissions(day, session)
        st = DayStatus(day, deadline, session=session, scope=scope.label)
        for site in self.sites(existing_on=day):
            if not scope.allows(site):
                continue
            st.names[site.code] = site.name
            at = first.get(site.code)
            if at is None:
                st.missing.append(site)
            elif aware(at) > deadline:
                st.late.append(site)
            else:
                st.reported.append(site)
        for inc in self.incidents(day, scope=scope):
            st.incidents[inc.site.code] += 1
            st.levels[inc.level] += 1
            st.names.setdefault(inc.site.code, inc.site.name)
        st.bound = self.bound_codes() & set(st.names)
        st.zero_then_incident = self.zero_then_incident(day) & set(st.names)
        return st

    def summary(self, day: date, session: str = "", scope: Scope | None = None) -> DaySummary:
        """Totals of a day (or session): figures only from reports that carry them, and say so."""
        scope = scope or ALL
        st = self.status(day, session, scope)
        totals = Counter[str]()
        zero = full = zero_figures = 0
        for code, kind, *figures in self._current_figures(day, session):
            if code not in st.names:
                continue
            has_figures = any(v is not None for v in figures)
            if kind == "zero":
                zero += 1
                if not has_figures:
                    continue  # a 零报告 without figures says nothing about head counts
                zero_figures += 1
            else:
                full += 1
            for k, v in zip(COUNTS, figures, strict=True):
                totals[k] += v or 0
        return DaySummary(day, len(st.reported) + len(st.late) + len(st.missing),
                          len(st.reported), len(st.late), len(st.missing), zero,
                          totals["expected"], totals["present"], totals["absent"],
                          totals["violations"], st.levels, full=full,
                          zero_with_figures=zero_figures,
                          zero_then_incident=len(st.zero_then_incident), session=session,
                          scope=scope.label)  # fmt: skip

    def stats(self, start: date, end: date, scope: Scope | None = None) -> Stats:
        """Late rate per site and incidents by level and day over a range."""
        scope = scope or ALL
        out = Stats(start, end, scope.label)
        per: dict[str, SiteStats] = {}
        day = start
        while day <= end:
            if self.schedule.is_reporting_day(day):
                for session in self.schedule.session_keys(day):
                    st = self.status(day, session, scope)
                    for bucket, sites in (("on_time", st.reported), ("late", st.late),
                                          ("missing", st.missing)):  # fmt: skip
                        for site in sites:
                            row = per.setdefault(site.code, SiteStats(site))
                            row.due += 1
                            setattr(row, bucket, getattr(row, bucket) + 1)
            day += timedelta(days=1)
        for inc in self.incidents(start, end, scope):
            out.by_level[inc.level] += 1
            out.by_day.setdefault(inc.day, Counter())[inc.level] += 1
            per.setdefault(inc.site.code, SiteStats(inc.site)).incidents += 1
        out.sites = sorted(per.values(), key=lambda x: (-x.late_rate, -x.missing, x.site.code))
        return out
