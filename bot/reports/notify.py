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
from bot.reports.pages import session_label, split_messages
from bot.reports.scope import Scope
from bot.reports.service import ReportService, SiteInfo
from bot.reports.views import cn_day

Kind = Literal["reminder", "digest"]

# How far back a digest that was never queued (kaowu was down at the deadline) is caught up.
CATCH_UP_DAYS = 3


@dataclass(frozen=True)
class Job:
    """A notice to send at `when` for a reporting day."""

    when: datetime
    kind: Kind
    day: date
    session: str = ""  # "" = the whole day


def _target(session: str) -> str:
    """The run marker target of a day's (or a session's) scheduled notices."""
    return f"all:{session}" if session else "all"


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
            if not self.schedule.is_reporting_day(day) or not self.service.had_sites(day):
                continue
            for session in self.schedule.session_keys(day):
                if not self.service.was_sent("digest", day, _target(session)):
                    jobs.append(Job(now, "digest", day, session))
        for day in self.schedule.upcoming(today, days):
            for session in self.schedule.session_keys(day):
                target = _target(session)
                reminder = self.schedule.reminder_at(day, session)
                deadline = self.schedule.deadline(day, session)
                if not self.service.was_sent("reminder-run", day, target) and now < deadline:
                    jobs.append(Job(max(reminder, now), "reminder", day, session))
                if not self.service.was_sent("digest", day, target):
                    jobs.append(Job(max(deadline, now), "digest", day, session))
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
        target = _target(job.session)
        if job.kind == "reminder":
            notices = self.reminders(job.day, scheduled=True, session=job.session)
            marker = ("reminder-run", job.day, target)
        else:
            notices = self.digest(job.day, job.session)
            marker = ("digest", job.day, target)
        if not self.service.queue(notices, marker):
            return []
        return [Reply(n.text, chat_id=n.chat_id) for n in notices]

    def reminders(
        self,
        day: date,
        scheduled: bool = False,
        scope: Scope | None = None,
        session: str | None = None,
    ) -> list[PendingNotice]:
        """A private reminder to each bound chief of a site (in `scope`) that has not reported
        on `day` (for `session`; None: every session of the day).

        Scheduled reminders go once per site, chief, day and session; one asked for with /remind
        is new each time.
        """
        sessions = self.schedule.session_keys(day) if session is None else [session]
        run = "" if scheduled else f":{uuid.uuid4().hex[:12]}"
        out: list[PendingNotice] = []
        for key in sessions:
            missing = self.service.status(day, key, scope).missing
            chiefs = self.service.chiefs([s.code for s in missing])
            deadline = self.schedule.deadline(day, key).strftime("%H:%M")
            tag = f":{key}" if key else ""
            for site in missing:
                text = prompts.render("report_reminder", day=cn_day(day) + session_label(key),
                                      site=site.name, deadline=deadline)  # fmt: skip
                out += [
                    PendingNotice("reminder", f"reminder:{day}:{site.code}:{uid}{tag}{run}",
                                  uid, text)
                    for uid in chiefs[site.code]
                ]  # fmt: skip
        return out

    def unreachable(self, day: date, scope: Scope | None = None) -> list[SiteInfo]:
        """Missing sites (in `scope`) that nobody is bound to (a reminder cannot reach them)."""
        missing = {s.code: s for k in self.schedule.session_keys(day)
                   for s in self.service.status(day, k, scope).missing}  # fmt: skip
        chiefs = self.service.chiefs(list(missing))
        return [s for code, s in sorted(missing.items()) if not chiefs[code]]

    def digest(self, day: date, session: str = "") -> list[PendingNotice]:
        """The deadline digest for the coordinators (split so each message fits Telegram)."""
        st = self.service.status(day, session)
        when = cn_day(day) + session_label(session)
        if st.missing:
            lines = "\n".join(f"- {site_line(s)}" for s in st.missing)
            text = prompts.render(
                "deadline_digest",
                day=when,
                deadline=st.deadline.strftime("%H:%M"),
                missing=len(st.missing),
                lines=lines,
                reported=len(st.reported),
                late=len(st.late),
            )
        else:
            text = prompts.render(
                "deadline_digest_all", day=when, total=len(st.reported) + len(st.late)
            )
        tag = f":{session}" if session else ""
        parts = split_messages([text])
        return [PendingNotice("digest", f"digest:{day}{tag}:{t}" + (f":{i}" if i else ""), t, part)
                for t in self.coordinator_targets
                for i, part in enumerate(parts)]  # fmt: skip
