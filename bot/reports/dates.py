"""Dates as staff type them: 2027-06-07, 2027/6/7, 6月7日, 6-7, 今天, 昨天; ranges with 至/到/~."""

from __future__ import annotations

import re
from datetime import date, timedelta

from bot.reports.service import ReportError

_RELATIVE = {"今天": 0, "今日": 0, "昨天": -1, "昨日": -1, "前天": -2, "明天": 1}


def parse_day(text: str, today: date) -> date:
    """One day; ReportError with an example when it cannot be read."""
    t = text.strip()
    if not t:
        return today
    if t in _RELATIVE:
        return today + timedelta(days=_RELATIVE[t])
    m = re.fullmatch(r"(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?", t)
    if m:
        try:
            return date(int(m.group(1) or today.year), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    raise ReportError(f"看不懂日期“{t}”。可以写 2027-06-07、6月7日、今天 或 昨天。")


def parse_range(text: str, today: date) -> tuple[date, date]:
    """A day or a range "A 至 B" (also 到, ~, ..); the end may not be before the start."""
    parts = [p for p in re.split(r"\s*(?:至|到|~|～|\.\.)\s*|\s+", text.strip()) if p]
    if len(parts) > 2:
        raise ReportError("日期区间请写成：2027-06-07 至 2027-06-08")
    start = parse_day(parts[0] if parts else "", today)
    end = parse_day(parts[1], today) if len(parts) == 2 else start
    if end < start:
        raise ReportError(
            f"结束日期（{end.month}月{end.day}日）早于开始日期（{start.month}月{start.day}日），"
            "请调换顺序。"
        )
    if (end - start).days > 366:
        raise ReportError("导出区间最长一年，请缩短日期范围。")
    return start, end
