"""Scheduled notices: reminders before the deadline, the missing-sites digest at the deadline.

The plan is computed from the schedule and what has already been queued, so any process (the
bot, or `kaowu reports tick` from cron) can run it after any downtime and lose nothing: a notice
whose time passed while kaowu was down is due at once (a reminder only while the deadline is still
ahead; a digest for a day whose deadline passed is caught up). Running a job queues its notices in
the outbox, in the same transaction as the record that the job ran; the outbox sends them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import prompts
from bot.messages import Reply
from bot.reports.outbox import PendingNotice
from bot.reports.service import ReportService, SiteInfo

Kind = Literal["reminder", "digest"]

# How far back a digest that was never queued (kaowu was down at the deadline) is caught up.
CATCH_UP_DAYS = 3


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
    """Plans reminders and digests and queues them in the outbox."""

    def __init__(
        self, service: ReportService, coordinator_chat: int | None, coordinator_ids: list[int]
    ) -> None:
        self.service = service
        self.schedule = service.schedule
        self.coordinator_targets = (
            [coordinator_chat] if coordinator_chat is not None else list(coordinator_ids)
        )

    def plan(self, now: datetime, days: int = 3) -> list[Job]:
        """Jobs not yet done: missed digests of recent days, then today and the next days."""
        jobs: list[Job] = []
        today = self.schedule.today(now)
        for back in range(CATCH_UP_DAYS, 0, -1):
            day = today - timedelta(days=back)
            if (
                self.schedule.is_reporting_day(day)
                and not self.service.was_sent("digest", day, "all")
                and self.service.had_sites(day)
            ):
                jobs.append(Job(now, "digest", day))
        for day in self.schedule.upcoming(today, days):
            reminder, deadline = self.schedule.reminder_at(day), self.schedule.deadline(day)
            if not self.service.was_sent("reminder-run", day, "all") and now < deadline:
                jobs.append(Job(max(reminder, now), "reminder", day))
            if not self.service.was_sent("digest", day, "all"):
                jobs.append(Job(max(deadline, now), "digest", day))
        return sorted(jobs, key=lambda j: j.when)

    def tick(self, now: datetime) -> list[Reply]:
        """Queue every job that is due at `now`; the notices queued, as replies."""
        out: list[Reply] = []
        for job in self.plan(now):
            if job.when <= now:
                out += self.run(job)
        return out

    def run(self, job: Job) -> list[Reply]:
        """Queue the notices of one job together with the record that it ran (once only)."""
        if job.kind == "reminder":
            notices = self.reminders(job.day, scheduled=True)
            marker = ("reminder-run", job.day, "all")
        else:
            notices = self.digest(job.day)
            marker = ("digest", job.day, "all")
        if not self.service.queue(notices, marker):
            return []
        return [Reply(n.text, chat_id=n.chat_id) for n in notices]

    def reminders(self, day: date, scheduled: bool = False) -> list[PendingNotice]:
        """A private reminder to each bound chief of a site that has not reported on `day`.

        Scheduled reminders go once per site, chief and day; one asked for with /remind is new
        each time.
        """
        missing = self.service.status(day).missing
        chiefs = self.service.chiefs([s.code for s in missing])
        deadline = self.schedule.deadline(day).strftime("%H:%M")
        run = "" if scheduled else f":{uuid.uuid4().hex[:12]}"
        out: list[PendingNotice] = []
        for site in missing:
            text = prompts.render(
                "report_reminder", day=f"{day:%m月%d日}", site=site.name, deadline=deadline
            )
            out += [
                PendingNotice("reminder", f"reminder:{day}:{site.code}:{uid}{run}", uid, text)
                for uid in chiefs[site.code]
            ]
        return out

    def unreachable(self, day: date) -> list[SiteInfo]:
        """Missing sites that nobody is bound to (a reminder cannot reach them)."""
        missing = self.service.status(day).missing
        chiefs = self.service.chiefs([s.code for s in missing])
        return [s for s in missing if not chiefs[s.code]]

    def digest(self, day: date) -> list[PendingNotice]:
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
        return [PendingNotice("digest", f"digest:{day}:{t}", t, text)
                for t in self.coordinator_targets]  # fmt: skip
