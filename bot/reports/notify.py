"""Scheduled notices: reminders before the deadline, the missing-sites digest at the deadline.

The plan is computed from the schedule and what has already been sent, so a front end can
rebuild its timers at start-up and lose nothing: a notice whose time passed while kaowu was down
is due at once (a reminder only while the deadline is still ahead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import prompts
from bot.messages import Reply
from bot.reports.service import ReportService, SiteInfo

Kind = Literal["reminder", "digest"]


@dataclass(frozen=True)
class Job:
    """A notice to send at `when` for a reporting day."""

    when: datetime
    kind: Kind
    day: date


def site_line(s: SiteInfo) -> str:
    """ "代码 名称（区县）"."""
    return f"{s.code} {s.name}" + (f"（{s.district}）" if s.district else "")


class Notifier:
    """Plans and produces reminders and digests."""

    def __init__(
        self, service: ReportService, coordinator_chat: int | None, coordinator_ids: list[int]
    ) -> None:
        self.service = service
        self.schedule = service.schedule
        self.coordinator_targets = (
            [coordinator_chat] if coordinator_chat is not None else list(coordinator_ids)
        )

    def plan(self, now: datetime, days: int = 3) -> list[Job]:
        """Jobs not yet done for today and the next reporting days; overdue ones are due now."""
        jobs: list[Job] = []
        today = self.schedule.today(now)
        for day in self.schedule.upcoming(today, days):
            reminder, deadline = self.schedule.reminder_at(day), self.schedule.deadline(day)
            if not self.service.was_sent("reminder-run", day, "all") and now < deadline:
                jobs.append(Job(max(reminder, now), "reminder", day))
            if not self.service.was_sent("digest", day, "all"):
                jobs.append(Job(max(deadline, now), "digest", day))
        return sorted(jobs, key=lambda j: j.when)

    def tick(self, now: datetime) -> list[Reply]:
        """Run every job that is due at `now`."""
        out: list[Reply] = []
        for job in self.plan(now):
            if job.when <= now:
                out += self.run(job)
        return out

    def run(self, job: Job) -> list[Reply]:
        """Produce the messages of one job and record it as done."""
        if job.kind == "reminder":
            if not self.service.mark_sent("reminder-run", job.day, "all"):
                return []
            return self.reminders(job.day, record=True)
        if not self.service.mark_sent("digest", job.day, "all"):
            return []
        return self.digest(job.day)

    def reminders(self, day: date, record: bool = False) -> list[Reply]:
        """A private reminder to each bound chief of a site that has not reported on `day`."""
        missing = self.service.status(day).missing
        chiefs = self.service.chiefs([s.code for s in missing])
        deadline = self.schedule.deadline(day).strftime("%H:%M")
        out: list[Reply] = []
        for site in missing:
            if record and not self.service.mark_sent("reminder", day, site.code):
                continue
            text = prompts.render(
                "report_reminder", day=f"{day:%m月%d日}", site=site.name, deadline=deadline
            )
            out += [Reply(text, chat_id=uid) for uid in chiefs[site.code]]
        return out

    def unreachable(self, day: date) -> list[SiteInfo]:
        """Missing sites that nobody is bound to (a reminder cannot reach them)."""
        missing = self.service.status(day).missing
        chiefs = self.service.chiefs([s.code for s in missing])
        return [s for s in missing if not chiefs[s.code]]

    def digest(self, day: date) -> list[Reply]:
        """The deadline digest for the coordinators."""
        st = self.service.status(day)
        if st.missing:
            lines = "\n".join(f"- {site_line(s)}" for s in st.missing)
            text = prompts.render(
                "deadline_digest",
                day=f"{day:%m月%d日}",
                deadline=st.deadline.strftime("%H:%M"),
                missing=len(st.missing),
                lines=lines,
                reported=len(st.reported),
                late=len(st.late),
            )
        else:
            text = prompts.render(
                "deadline_digest_all", day=f"{day:%m月%d日}", total=len(st.reported) + len(st.late)
            )
        return [Reply(text, chat_id=target) for target in self.coordinator_targets]
