"""Loaded by the kaowu processes that tests start (this folder is first on their PYTHONPATH).

Report deadlines (20:00) and reminders (an hour before) are read against the clock, so a CLI
test run in the evening, Beijing time, would see every report as late and a reminder due, and
one run shortly after midnight would file each report, as late, for the day before
(REPORT_LATE_CUTOFF). In the evening the processes' report clock runs eight hours behind, and
in the small hours eight hours ahead: same day, daytime, still moving, so results do not depend
on the hour CI happens to run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.reports import schedule

_MORNING, _EVENING = 6, 18
_SHIFT = timedelta(hours=8)


def _daytime_now() -> datetime:
    now = datetime.now(UTC)
    local_hour = now.astimezone(ZoneInfo("Asia/Shanghai")).hour
    if local_hour >= _EVENING:
        return now - _SHIFT
    if local_hour < _MORNING:
        return now + _SHIFT
    return now


schedule.SystemClock.now = staticmethod(_daytime_now)  # type: ignore[method-assign]
