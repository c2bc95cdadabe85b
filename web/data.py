"""Every call the web console makes into the report side, in one adapter.

The pages only see the plain rows defined here; scopes, sessions, incident threads and
acknowledgements are the report side's own, so the console shows what chat and exports show.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.reports import export
from bot.reports.forms import LEVELS
from bot.reports.notify import Notifier
from bot.reports.scope import Scope
from bot.reports.service import IncidentView, ReportError, ReportService, SiteInfo
from bot.services import Services

STATES = ("未报", "迟报", "零报告后有事件", "已报")  # the board's order: missing first


def _service(services: Services) -> ReportService:
    assert services.reports is not None, "the web console needs the report database"
    return services.reports


def _notifier(services: Services) -> Notifier:
    assert services.notifier is not None
    return services.notifier


def scope_of(services: Services, user_id: int) -> Scope | None:
    """The coordinator's scope (as in chat), or None when the user is no coordinator."""
    commands = services.report_commands
    return commands.scope_of(user_id) if commands is not None else None


def session_now(services: Services, day: date) -> str:
    """The report session in view on `day` ("" when the day has one report)."""
    service = _service(services)
    session = service.schedule.session_at(day, service.now())
    if session == "" and service.schedule.sessions(day):
        session = service.schedule.session_keys(day)[0]
    return session


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
    session = session_now(services, day)
    st = service.status(day, session, scope)
    first = service._first_submissions(day, session)
    sites = st.reported + st.late + st.missing
    chiefs = service.chiefs([s.code for s in sites]) if sites else {}
    late = {s.code for s in st.late}
    missing = {s.code for s in st.missing}
    rows = []
    for s in sites:
        n = st.incidents.get(s.code, 0)
        if s.code in missing:
            state = "未报"
        elif s.code in st.zero_then_incident:
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
    session = session_now(services, day)
    missing = {s.code: s for s in service.status(day, session, scope).missing}
    if code is not None:
        missing = {c: s for c, s in missing.items() if c == code}
    wanted = {f"reminder:{day}:{c}:" for c in missing}
    notices = [n for n in notifier.reminders(day, scope=scope, session=session)
               if any(n.dedup.startswith(w) for w in wanted)]  # fmt: skip
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


def incidents(services: Services, scope: Scope, start: date, end: date) -> list[IncidentRow]:
    """Incidents of a range in scope, most severe first, then by time."""
    service = _service(services)
    rows = []
    for inc in service.incidents(start, end, scope):
        at = inc.acknowledged_at
        label = f"{inc.acknowledged_name or '招生办'} {local_time(services, at)}" if at else ""
        rows.append(IncidentRow(
            inc, local_time(services, inc.reported_at, "%m-%d %H:%M"), label,
            service.incident_thread(inc.id)[1:], list(inc.photos),
        ))  # fmt: skip
    rows.sort(key=lambda r: (-LEVELS.index(r.incident.level), r.incident.reported_at))
    return rows


def acknowledge(
    services: Services, scope: Scope, incident_id: int, user_id: int, user_name: str
) -> bool:
    """Record 已收到 for an incident in scope; False when it is not there (or not possible)."""
    service = _service(services)
    visible = {r.incident.id for r in incidents(services, scope, date.min, date.max)}
    if incident_id not in visible:
        return False
    service.acknowledge_incident(incident_id, user_id, user_name)
    return True


def photo(services: Services, scope: Scope, incident_id: int, n: int) -> Path | None:
    """The file of photo `n` of an incident in scope (None when there is none)."""
    service = _service(services)
    try:
        thread = service.incident_thread(incident_id)
    except ReportError:
        return None
    if not thread or not scope.allows(thread[0].site) or not 0 <= n < len(thread[0].photos):
        return None
    root = services.settings.data_dir.resolve()
    path = (root / thread[0].photos[n]).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


# ---------------------------------------------------------------------- 考点
@dataclass(frozen=True)
class SiteRow:
    """A site with the people bound to it."""

    site: SiteInfo
    join_code: str  # kept hashed: only a code just generated can be shown
    bound: list[tuple[int, str, str]]  # (user id, name, bound at)


def sites(services: Services, scope: Scope) -> list[SiteRow]:
    """Sites in scope with who is bound to each."""
    service = _service(services)
    bound = service.bindings()
    rows = []
    for x in service.sites():
        if scope.allows(x):
            people = [
                (b.user_id, b.name, local_time(services, b.bound_at, "%m-%d %H:%M"))
                for b in bound.get(x.code, [])
            ]
            rows.append(SiteRow(x, "", people))
    return rows


def _in_scope(service: ReportService, scope: Scope, code: str) -> bool:
    return any(x.code == code and scope.allows(x) for x in service.sites())


def unbind(services: Services, scope: Scope, code: str, user_id: int) -> bool:
    """Close a person's binding to a site in scope (history kept); whether one was closed."""
    service = _service(services)
    if not _in_scope(service, scope, code):
        return False
    try:
        return bool(service.unbind(code, user_id))
    except ReportError:
        return False


def new_join_code(services: Services, scope: Scope, code: str) -> str | None:
    """Give a site in scope a fresh join code (people already bound stay bound)."""
    service = _service(services)
    if not _in_scope(service, scope, code):
        return None
    return service.reset_join_code(code)


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
    for inc in service.incidents(start, end, scope):
        if scope.allows(inc.site):
            by_day[inc.day.isoformat()][inc.level] += 1
            totals[inc.level] += 1
    return Stats(start, end, hours, by_day, totals)


def export_csv(services: Services, scope: Scope, start: date, end: date) -> bytes:
    """The report rows of the scope as CSV (the chat export's file)."""
    return export.to_csv(_service(services), start, end, scope)


def export_xlsx(services: Services, scope: Scope, start: date, end: date) -> bytes:
    """The scope's workbook (日报 per session, 事件, 汇总, 统计), as in chat and CLI."""
    return export.to_xlsx(_service(services), start, end, scope)
