"""Reporting days and deadlines, and the clock they are read against.

Without a schedule file every day is a reporting day with one daily deadline (REPORT_DEADLINE).
With one, only the exam days in it are reporting days. Formats (see docs/schedule.md):

JSON: {"name": "...", "deadline": "20:00", "reminder_minutes": 60,
       "days": [{"date": "2027-06-07", "deadline": "19:00",
                 "sessions": [{"subject": "语文", "start": "09:00", "end": "11:30"}]}]}
CSV:  date,subject,start,end[,deadline]   (one row per session)
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

    def today(self, now: datetime) -> date:
        """The local calendar day of `now`."""
        return now.astimezone(self.tz).date()

    def is_reporting_day(self, day: date) -> bool:
        """Whether sites must report on `day`."""
        return self.days is None or day in self.days

    def deadline(self, day: date) -> datetime:
        """The report deadline of `day` (aware, local time zone)."""
        exam = self.days.get(day) if self.days else None
        at = (exam.deadline if exam and exam.deadline else None) or self.default_deadline
        return datetime.combine(day, at, tzinfo=self.tz)

    def reminder_at(self, day: date) -> datetime:
        """When chiefs who have not reported are reminded."""
        return self.deadline(day) - timedelta(minutes=self.reminder_minutes)

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
    tz: str, deadline: str, reminder_minutes: int, path: Path | None = None
) -> Schedule:
    """The schedule from settings, and from a schedule file if one is given."""
    schedule = Schedule(
        tz=_zone(tz),
        default_deadline=parse_hhmm(deadline, "REPORT_DEADLINE "),
        reminder_minutes=reminder_minutes,
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
            )
            for s in raw.get("sessions", [])
        )
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
        )
        old = days.get(day, ExamDay(day))
        deadline = parse_hhmm(row["deadline"], where) if row.get("deadline") else old.deadline
        days[day] = ExamDay(day, deadline, (*old.sessions, session))
    schedule.days = days
