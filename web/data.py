"""Every call the web console makes into the report side, in one adapter.

The pages only see the plain rows defined here. The report side is being extended elsewhere
(incident acknowledgement and threads, 区县 scopes, half-day sessions); those parts are looked up
with `getattr` and stood in for locally until they exist, so retargeting the console at them is
a change to this module alone.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.reports import export
from bot.reports.forms import LEVELS
from bot.reports.notify import Notifier
from bot.reports.service import IncidentView, ReportService, SiteInfo
from bot.services import Services
from bot.store.models import Binding, Site

STATES = ("未报", "迟报", "零报告后有事件", "已报")  # the board's order: missing first


@dataclass(frozen=True)
class Scope:
    """The sites a coordinator may see: `districts` None means every site."""

    districts: frozenset[str] | None = None

    def allows(self, site: SiteInfo) -> bool:
        """Whether the site is in this scope."""
        return self.districts is None or site.district in self.districts

    @property
    def label(self) -> str:
        """区县 names for the page header ("" for all)."""
        return "、".join(sorted(self.districts)) if self.districts is not None else ""


def _service(services: Services) -> ReportService:
    assert services.reports is not None, "the web console needs the report database"
    return services.reports


def _notifier(services: Services) -> Notifier:
    assert services.notifier is not None
    return services.notifier


def scope_of(services: Services, user_id: int) -> Scope | None:
    """The coordinator's scope, or None when the user is no coordinator."""
    if user_id not in services.settings.reports.coordinator_ids:
        return None
    own = getattr(_service(services), "scope_of", None)
    if callable(own):  # the report side's own 区县 scopes, once they exist
        found = own(user_id)
        districts = getattr(found, "districts", None)
        return Scope(frozenset(districts) if districts is not None else None)
    for entry in services.settings.web.web_coordinator_districts.replace("；", ";").split(";"):
        uid, _, names = entry.partition(":")
        if uid.strip() == str(user_id):
            return Scope(frozenset(n.strip() for n in names.split("|") if n.strip()))
    return Scope()


def today(services: Services) -> date:
    """Today's report day."""
    return _service(services).today()


def now(services: Services) -> datetime:
    """Now, from the report service's clock (UTC)."""
    return _service(services).now()


def local_time(services: Services, at: datetime, fmt: str = "%H:%M") -> str:
    """A stored time as the coordinators read it (the schedule's time zone)."""
    return at.astimezone(_service(services).schedule.tz).strftime(fmt)


# ---------------------------------------------------------------------- 今日
@dataclass(frozen=True)
class BoardRow:
    """One site on the board."""

    site: SiteInfo
    state: str
    submitted: str  # local HH:MM of the first submission, "" when none
    incidents: int
    chiefs: int  # people bound to the site (who a reminder reaches)


@dataclass
class Board:
    """Today's board: every site in scope with its state, missing first by 区县."""

    day: date
    deadline: str
    reporting_day: bool
    rows: list[BoardRow]
    counts: Counter[str] = field(default_factory=Counter)
    districts: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[BoardRow]:
        """Sites that have not reported."""
        return [r for r in self.rows if r.state == "未报"]


def board(services: Services, scope: Scope, day: date) -> Board:
    """The board of a day for a scope."""
    service = _service(services)
    st = service.status(day)
    current = service.current_reports(day)
    first = service._first_submissions(day)
    sites = [s for s in st.reported + st.late + st.missing if scope.allows(s)]
    chiefs = service.chiefs([s.code for s in sites]) if sites else {}
    late = {s.code for s in st.late}
    missing = {s.code for s in st.missing}
    rows = []
    for s in sites:
        n = st.incidents.get(s.code, 0)
        r = current.get((s.code, day))
        if s.code in missing:
            state = "未报"
        elif r is not None and r.kind == "zero" and n:
            state = "零报告后有事件"
        elif s.code in late:
            state = "迟报"
        else:
            state = "已报"
        at = first.get(s.code)
        submitted = local_time(services, at.replace(tzinfo=at.tzinfo or UTC)) if at else ""
        rows.append(BoardRow(s, state, submitted, n, len(chiefs.get(s.code, []))))
    rows.sort(key=lambda r: (STATES.index(r.state), r.site.district, r.site.code))
    return Board(
        day=day,
        deadline=local_time(services, st.deadline),
        reporting_day=service.schedule.is_reporting_day(day),
        rows=rows,
        counts=Counter(r.state for r in rows),
        districts=sorted({r.site.district for r in rows}),
    )


def remind(services: Services, scope: Scope, code: str | None = None) -> tuple[int, list[SiteInfo]]:
    """Queue reminders in the notices outbox for today's missing sites in scope (or one site).

    Returns (reminders queued, missing sites nobody is bound to). The bot's sender delivers them.
    """
    service, notifier = _service(services), _notifier(services)
    day = service.today()
    missing = {s.code: s for s in service.status(day).missing if scope.allows(s)}
    if code is not None:
        missing = {c: s for c, s in missing.items() if c == code}
    wanted = {f"reminder:{day}:{c}:" for c in missing}
    notices = [n for n in notifier.reminders(day) if any(n.dedup.startswith(w) for w in wanted)]
    service.queue(notices)
    chiefs = service.chiefs(list(missing)) if missing else {}
    return len(notices), [s for c, s in missing.items() if not chiefs.get(c)]


# ---------------------------------------------------------------------- 事件
@dataclass(frozen=True)
class IncidentRow:
    """An incident with what the page shows beside it."""

    incident: IncidentView
    time: str
    acknowledged: str  # "" when not yet, else who and when
    thread: list[Any]
    photos: list[Any]


def can_acknowledge(services: Services) -> bool:
    """Whether the report side can record an 已收到 (so the button is live)."""
    return callable(getattr(_service(services), "acknowledge_incident", None))


def incidents(services: Services, scope: Scope, start: date, end: date) -> list[IncidentRow]:
    """Incidents of a range in scope, most severe first, then by time."""
    service = _service(services)
    thread = getattr(service, "incident_thread", None)
    rows = []
    for inc in service.incidents(start, end):
        if not scope.allows(inc.site):
            continue
        ack = getattr(inc, "acknowledged_by_name", None) or getattr(inc, "acknowledged_by", None)
        at = getattr(inc, "acknowledged_at", None)
        label = f"{ack} {local_time(services, at)}" if ack and at else (str(ack) if ack else "")
        rows.append(IncidentRow(
            inc, local_time(services, inc.reported_at, "%m-%d %H:%M"), label,
            list(thread(inc.id)) if callable(thread) else [],
            list(getattr(inc, "photos", []) or []),
        ))  # fmt: skip
    rows.sort(key=lambda r: (-LEVELS.index(r.incident.level), r.incident.reported_at))
    return rows


def acknowledge(
    services: Services, scope: Scope, incident_id: int, user_id: int, user_name: str
) -> bool:
    """Record 已收到 for an incident in scope; False when it is not there (or not possible)."""
    service = _service(services)
    ack = getattr(service, "acknowledge_incident", None)
    if not callable(ack):
        return False
    visible = {r.incident.id for r in incidents(services, scope, date.min, date.max)}
    if incident_id not in visible:
        return False
    ack(incident_id, user_id, user_name)
    return True


# ---------------------------------------------------------------------- 考点
@dataclass(frozen=True)
class SiteRow:
    """A site with the people bound to it."""

    site: SiteInfo
    join_code: str
    bound: list[tuple[int, str, str]]  # (user id, name, bound at)


def sites(services: Services, scope: Scope) -> list[SiteRow]:
    """Sites in scope with who is bound to each."""
    service = _service(services)
    with service.db.read() as s:
        codes = {x.code: x.join_code for x in s.scalars(select(Site))}
        bound: dict[str, list[tuple[int, str, str]]] = {}
        for b in s.scalars(select(Binding).where(Binding.unbound_at.is_(None))):
            at = local_time(services, b.bound_at.replace(tzinfo=b.bound_at.tzinfo or UTC),
                            "%m-%d %H:%M")  # fmt: skip
            bound.setdefault(b.site.code, []).append((int(b.user_id), b.user_name, at))
    return [
        SiteRow(x, codes.get(x.code, ""), bound.get(x.code, []))
        for x in service.sites()
        if scope.allows(x)
    ]


def _site_row(s: Any, service: ReportService, scope: Scope, code: str) -> Site | None:
    site = s.scalars(select(Site).where(Site.code == code)).first()
    if site is None or not scope.allows(SiteInfo(site.code, site.name, site.district)):
        return None
    return site


def unbind(services: Services, scope: Scope, code: str, user_id: int) -> bool:
    """Close a person's binding to a site in scope (history kept); whether one was closed."""
    service = _service(services)
    with service.db.unit() as s:
        site = _site_row(s, service, scope, code)
        if site is None:
            return False
        b = s.scalars(select(Binding).where(Binding.site_id == site.id,
                                            Binding.user_id == user_id,
                                            Binding.unbound_at.is_(None))).first()  # fmt: skip
        if b is None:
            return False
        b.unbound_at = service.now()
        return True


def new_join_code(services: Services, scope: Scope, code: str) -> str | None:
    """Give a site in scope a fresh join code (people already bound stay bound)."""
    service = _service(services)
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
    join = "".join(secrets.choice(alphabet) for _ in range(8))
    with service.db.unit() as s:
        site = _site_row(s, service, scope, code)
        if site is None:
            return None
        site.join_code, site.updated_at = join, service.now()
    return join


# ---------------------------------------------------------------------- 统计与导出
def days(start: date, end: date) -> list[date]:
    """Every day of a range."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@dataclass
class Stats:
    """Figures of a date range for the charts."""

    start: date
    end: date
    by_hour: list[int]  # first submissions per local hour 0..23
    by_level_day: dict[str, dict[str, int]]  # day -> level -> count
    totals: Counter[str]


def stats(services: Services, scope: Scope, start: date, end: date) -> Stats:
    """Reports by hour and incidents by level and day, in scope."""
    service = _service(services)
    hours = [0] * 24
    tz = service.schedule.tz
    allowed = {s.code for s in service.sites() if scope.allows(s)}
    for day in days(start, end):
        for code, at in service._first_submissions(day).items():
            if code in allowed:
                hours[at.replace(tzinfo=at.tzinfo or UTC).astimezone(tz).hour] += 1
    by_day: dict[str, dict[str, int]] = {d.isoformat(): dict.fromkeys(LEVELS, 0)
                                         for d in days(start, end)}  # fmt: skip
    totals: Counter[str] = Counter()
    for inc in service.incidents(start, end):
        if scope.allows(inc.site):
            by_day[inc.day.isoformat()][inc.level] += 1
            totals[inc.level] += 1
    return Stats(start, end, hours, by_day, totals)


def _allowed(service: ReportService, scope: Scope) -> Callable[[Iterable[Any]], bool]:
    codes = {s.code for s in service.sites() if scope.allows(s)}
    return lambda row: list(row)[1] in codes  # the site code is the second column of both sheets


def export_rows(
    services: Services, scope: Scope, start: date, end: date
) -> tuple[list[list[Any]], list[list[Any]]]:
    """Report rows and incident rows of a range, in scope (the chat export's columns)."""
    service = _service(services)
    keep = _allowed(service, scope)
    reports = [r for r in export.report_rows(service, start, end) if keep(r)]
    found = [r for r in export.incident_rows(service, start, end) if keep(r)]
    return reports, found


def export_csv(services: Services, scope: Scope, start: date, end: date) -> bytes:
    """The report rows as CSV (UTF-8 with BOM, for Excel)."""
    reports, _ = export_rows(services, scope, start, end)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(export.REPORT_HEADER)
    writer.writerows(reports)
    return buf.getvalue().encode("utf-8-sig")


def export_xlsx(services: Services, scope: Scope, start: date, end: date) -> bytes:
    """Reports, incidents and per-day totals of the scope as an Excel workbook."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    reports, found = export_rows(services, scope, start, end)
    totals = []
    for day in days(start, end):
        mine = [r for r in reports if r[0] == day.isoformat()]
        if not mine:
            continue
        state = Counter(r[4] for r in mine)
        levels = Counter(r[3] for r in found if r[0] == day.isoformat())
        totals.append([day.isoformat(), len(mine), state["按时"], state["迟报"], state["未报"],
                       sum(1 for r in mine if r[5] == "零报告"),
                       *[sum(int(r[i] or 0) for r in mine) for i in (6, 7, 8, 9)],
                       *[levels.get(level, 0) for level in LEVELS]])  # fmt: skip
    wb = Workbook()
    sheets = [
        ("每日报告", export.REPORT_HEADER, reports),
        ("事件", export.INCIDENT_HEADER, found),
        ("汇总", ["日期", "考点数", "按时", "迟报", "未报", "零报告", "应考", "实考", "缺考",
                  "违纪/作弊", *[f"{level}事件" for level in LEVELS]], totals),
    ]  # fmt: skip
    for i, (title, header, rows) in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet()
        assert ws is not None
        ws.title = title
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(row)
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
