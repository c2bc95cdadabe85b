"""Reporting days and deadlines, and the clock they are read against.

Without a schedule file every day is a reporting day with one daily deadline (REPORT_DEADLINE).
With one, only the exam days in it are reporting days. Formats (see docs/schedule.md):

JSON: {"name": "...", "deadline": "20:00", "reminder_minutes": 60,
       "days": [{"date": "2027-06-07", "deadline": "19:00",
                 "sessions": [{"subject": "语文", "start": "09:00", "end": "11:30"}]}]}
CSV:  date,subject,start,end[,deadline][,session][,session_deadline]   (one row per session)

A session with its own deadline (JSON "deadline" inside a session, CSV `session_deadline`) is
reported on separately: on such a day every report, reminder, digest, status and export is per
session (named by "session", e.g. 上午/下午, or by its subject).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ScheduleError(ValueError):
    """A schedule file or setting that cannot be used; the message (Chinese) says where and why."""


class Clock(Protocol):
    """Source of the current time (aware)."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(UTC)


@dataclass(frozen=True)
class ExamSession:
    """One paper of an exam day."""

    subject: str
    start: time
    end: time
    label: str = ""  # 上午 / 下午 …
    deadline: time | None = None  # set: this session is reported on separately

    @property
    def key(self) -> str:
        """How reports and notices name this session."""
        return self.label or self.subject


@dataclass(frozen=True)
class ExamDay:
    """A reporting day with its own deadline (None: the default one)."""

    day: date
    deadline: time | None = None
    sessions: tuple[ExamSession, ...] = ()


@dataclass
class Schedule:
    """Which days need a report, and by when."""

    tz: ZoneInfo
    default_deadline: time
    reminder_minutes: int
    days: dict[date, ExamDay] | None = None  # None: every day is a reporting day
    name: str = ""
    notes: list[str] = field(default_factory=list)
    # Until this local time a report is filed, as late, for the day that just ended.
    late_cutoff: time = time(0, 0)

    def today(self, now: datetime) -> date:
        """The local calendar day of `now`."""
        return now.astimezone(self.tz).date()

    def is_reporting_day(self, day: date) -> bool:
        """Whether sites must report on `day`."""
        return self.days is None or day in self.days

    def sessions(self, day: date) -> tuple[ExamSession, ...]:
        """The sessions of `day` that are reported on separately (none: one report a day)."""
        exam = self.days.get(day) if self.days else None
        return (
            tuple(sorted((s for s in exam.sessions if s.deadline), key=lambda s: s.start))
            if exam
            else ()
        )

    def session_keys(self, day: date) -> list[str]:
        """The report session names of `day`; [""] when the day has one report."""
        return [s.key for s in self.sessions(day)] or [""]

    def deadline(self, day: date, session: str = "") -> datetime:
        """The report deadline of `day` or of one of its sessions (aware, local time zone)."""
        for s in self.sessions(day):
            if s.key == session and s.deadline:
                return datetime.combine(day, s.deadline, tzinfo=self.tz)
        exam = self.days.get(day) if self.days else None
        at = (exam.deadline if exam and exam.deadline else None) or self.default_deadline
        return datetime.combine(day, at, tzinfo=self.tz)

    def reminder_at(self, day: date, session: str = "") -> datetime:
        """When chiefs who have not reported are reminded."""
        return self.deadline(day, session) - timedelta(minutes=self.reminder_minutes)

    def filing_day(self, now: datetime) -> tuple[date, bool]:
        """The day a report sent at `now` is for, and whether it is the day just ended.

        Shortly after midnight (before `late_cutoff`) a report is for the day that just ended,
        when that was a reporting day.
        """
        local = now.astimezone(self.tz)
        yesterday = local.date() - timedelta(days=1)
        if local.time() < self.late_cutoff and self.is_reporting_day(yesterday):
            return yesterday, True
        return local.date(), False

    def session_at(self, day: date, now: datetime) -> str:
        """The session a report sent at `now` belongs to: the latest one already begun.

        Before the first session of the day has begun this is "" when the day has sessions
        (the caller refuses the report); after the day, the last session.
        """
        sessions = self.sessions(day)
        if not sessions:
            return ""
        local = now.astimezone(self.tz)
        if local.date() > day:
            return sessions[-1].key
        begun = [s for s in sessions if s.start <= local.time()]
        return begun[-1].key if begun else ""

    def upcoming(self, start: date, count: int = 3) -> list[date]:
        """The next `count` reporting days from `start` (inclusive)."""
        if self.days is None:
            return [start + timedelta(days=i) for i in range(count)]
        return sorted(d for d in self.days if d >= start)[:count]


def parse_hhmm(value: str, where: str) -> time:
    """ "HH:MM" as a time; ScheduleError naming `where` otherwise."""
    try:
        hh, mm = value.strip().replace("：", ":").split(":")
        return time(int(hh), int(mm))
    except (ValueError, AttributeError) as exc:
        raise ScheduleError(f"{where}的时间“{value}”不对，应写成 时:分，例如 18:30") from exc


def _parse_date(value: str, where: str) -> date:
    try:
        return date.fromisoformat(value.strip().replace("/", "-"))
    except (ValueError, AttributeError) as exc:
        raise ScheduleError(
            f"{where}的日期“{value}”不对，应写成 年-月-日，例如 2027-06-07"
        ) from exc


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"TIMEZONE={name!r} 不是有效的时区名，例如 Asia/Shanghai") from exc


def build_schedule(
    tz: str,
    deadline: str,
    reminder_minutes: int,
    path: Path | None = None,
    late_cutoff: str = "00:00",
) -> Schedule:
    """The schedule from settings, and from a schedule file if one is given."""
    schedule = Schedule(
        tz=_zone(tz),
        default_deadline=parse_hhmm(deadline, "REPORT_DEADLINE "),
        reminder_minutes=reminder_minutes,
        late_cutoff=parse_hhmm(late_cutoff, "REPORT_LATE_CUTOFF "),
    )
    if path is None:
        return schedule
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ScheduleError(f"无法读取考试日程文件 {path}：{exc.strerror or exc}") from exc
    if Path(path).suffix.lower() == ".csv":
        _load_csv(schedule, text)
    else:
        _load_json(schedule, text)
    if not schedule.days:
        raise ScheduleError(f"考试日程文件 {path} 中没有任何考试日")
    return schedule


def _load_json(schedule: Schedule, text: str) -> None:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleError(
            f"考试日程文件不是合法的 JSON（第 {exc.lineno} 行）：{exc.msg}"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("days"), list):
        raise ScheduleError("考试日程 JSON 需要包含 days 列表")
    schedule.name = str(data.get("name", ""))
    if "deadline" in data:
        schedule.default_deadline = parse_hhmm(str(data["deadline"]), "deadline ")
    if "reminder_minutes" in data:
        schedule.reminder_minutes = int(data["reminder_minutes"])
    schedule.days = {}
    for i, raw in enumerate(data["days"], 1):
        where = f"第 {i} 个考试日"
        if not isinstance(raw, dict) or "date" not in raw:
            raise ScheduleError(f"{where}缺少 date")
        day = _parse_date(str(raw["date"]), where)
        sessions = tuple(
            ExamSession(
                str(s.get("subject", "")),
                parse_hhmm(str(s.get("start", "")), f"{where}“{s.get('subject', '')}”开始"),
                parse_hhmm(str(s.get("end", "")), f"{where}“{s.get('subject', '')}”结束"),
                str(s.get("session", "")),
                parse_hhmm(str(s["deadline"]), f"{where}“{s.get('subject', '')}”截止")
                if s.get("deadline")
                else None,
            )
            for s in raw.get("sessions", [])
        )
        _distinct_sessions(sessions, where)
        deadline = parse_hhmm(str(raw["deadline"]), where) if raw.get("deadline") else None
        schedule.days[day] = ExamDay(day, deadline, sessions)


def _load_csv(schedule: Schedule, text: str) -> None:
    reader = csv.DictReader(io.StringIO(text))
    need = {"date", "subject", "start", "end"}
    if not reader.fieldnames or not need <= set(reader.fieldnames):
        raise ScheduleError("考试日程 CSV 的表头应为 date,subject,start,end（可加 deadline）")
    days: dict[date, ExamDay] = {}
    for line, row in enumerate(reader, 2):
        where = f"第 {line} 行"
        day = _parse_date(row["date"] or "", where)
        session = ExamSession(
            row["subject"] or "",
            parse_hhmm(row["start"] or "", where),
            parse_hhmm(row["end"] or "", where),
            row.get("session") or "",
            parse_hhmm(row["session_deadline"], where) if row.get("session_deadline") else None,
        )
        old = days.get(day, ExamDay(day))
        deadline = parse_hhmm(row["deadline"], where) if row.get("deadline") else old.deadline
        days[day] = ExamDay(day, deadline, (*old.sessions, session))
        _distinct_sessions(days[day].sessions, f"{row['date']} ")
    schedule.days = days


def _distinct_sessions(sessions: tuple[ExamSession, ...], where: str) -> None:
    keys = [s.key for s in sessions if s.deadline]
    if len(set(keys)) != len(keys) or "" in keys:
        raise ScheduleError(f"{where}的场次需要互不相同的名称（session，如 上午/下午）才能分场报告")
