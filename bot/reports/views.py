"""What the report side shows: read-only views of stored rows, and their converters."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from bot.reports.forms import ESCALATED_LEVELS
from bot.store.models import Incident, Report, Site


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
    session: str = ""


@dataclass(frozen=True)
class IncidentView:
    """One incident entry (首报, 续报 or 终报) as it currently stands, with its thread's state.

    `id` is the entry's number as users see it (#12), the same for every version; `thread_id`
    is the number of the thread's first report.
    """

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
    stage: str = "首报"  # 首报 | 续报 | 终报
    status: str = "处置中"  # of the thread: 处置中 | 已处置 (a 终报 closes it)
    version: int = 1
    withdrawn: bool = False
    thread_id: int = 0
    row_id: int = 0  # the stored version's own row
    reported_by: int = 0
    acknowledged_name: str = ""
    acknowledged_at: datetime | None = None
    photos: tuple[str, ...] = ()  # paths relative to the data directory

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
    session: str = ""  # "" = the whole day
    bound: set[str] = field(default_factory=set)  # codes of sites a chief is bound to
    zero_then_incident: set[str] = field(default_factory=set)  # 零报告后有事件
    names: dict[str, str] = field(default_factory=dict)  # code -> name, for incident lines
    scope: str = "全部考点"

    def to_json(self) -> dict[str, Any]:
        """The `kaowu reports status --json` object."""

        def site(s: SiteInfo) -> dict[str, Any]:
            return {"code": s.code, "name": s.name, "district": s.district,
                    "bound": s.code in self.bound, "incidents": self.incidents.get(s.code, 0),
                    "zero_then_incident": s.code in self.zero_then_incident}  # fmt: skip

        return {
            "date": self.day.isoformat(),
            "session": self.session,
            "deadline": self.deadline.isoformat(),
            "scope": self.scope,
            "reported": [s.code for s in self.reported],
            "missing": [s.code for s in self.missing],
            "late": [s.code for s in self.late],
            "sites": {
                "reported": [site(s) for s in self.reported],
                "late": [site(s) for s in self.late],
                "missing": [site(s) for s in self.missing],
            },
            "incidents": {code: n for code, n in sorted(self.incidents.items())},
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
    full: int = 0  # 日报 (full reports) whose figures are in the totals
    zero_with_figures: int = 0  # 零报告 that carried figures (counted in the totals too)
    zero_then_incident: int = 0
    session: str = ""
    scope: str = "全部考点"


def site_info(s: Site) -> SiteInfo:
    """The view of a site row."""
    return SiteInfo(s.code, s.name, s.district)


def report_view(r: Report) -> ReportView:
    """The view of a report row."""
    values = {
        "expected": r.expected, "present": r.present, "absent": r.absent,
        "violations": r.violations, "duty": r.duty, "equipment": r.equipment,
        "remarks": r.remarks,
    }  # fmt: skip
    if r.data and r.data != "{}":
        values.update(json.loads(r.data))
    return ReportView(
        r.id,
        site_info(r.site),
        r.report_date,
        r.version,
        r.kind,
        values,
        r.submitted_by,
        r.submitted_name,
        aware(r.submitted_at),
        r.late,
        r.session or "",
    )


def incident_view(i: Incident, **thread: Any) -> IncidentView:
    """The view of an incident row (`thread`: status, acknowledgement, photos of its thread)."""
    return IncidentView(
        i.origin_id or i.id,
        site_info(i.site),
        i.report_date,
        i.level,
        i.description,
        i.room,
        i.occurred,
        i.measures,
        i.reported_name,
        aware(i.reported_at),
        stage=i.stage or "首报",
        version=i.version or 1,
        withdrawn=bool(i.withdrawn),
        thread_id=i.thread_id or i.origin_id or i.id,
        row_id=i.id,
        reported_by=int(i.reported_by),
        **thread,
    )


def aware(at: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone columns; they were stored in UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cn_day(day: date) -> str:
    """A date as users write it: 6月7日 (no leading zeros)."""
    return f"{day.month}月{day.day}日"
