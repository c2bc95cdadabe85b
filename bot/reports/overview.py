"""Coordinator views over many sites: current reports, who reported, day totals."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from sqlalchemy import func, select

from bot.reports.schedule import Schedule
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
from bot.store.models import Report, Site


class Overview:
    """The overview part of `ReportService` (a mixin over the service's database and schedule)."""

    db: Database
    schedule: Schedule

    def sites(self, existing_on: date | None = None) -> list[SiteInfo]:
        """All sites (provided by `SiteDirectory`)."""
        raise NotImplementedError

    def incidents(self, start: date, end: date | None = None) -> list[IncidentView]:
        """Incidents of a range (provided by `ReportService`)."""
        raise NotImplementedError

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
            return {(r.site.code, r.report_date): report_view(r) for r in rows}

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
            elif aware(at) > deadline:
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
