"""Report commands for the core. Each handler parses its input, calls the service, replies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol, TypeVar

import prompts
from bot.messages import Message, Outcome, OutFile, Reply, is_no, is_yes
from bot.reports import export
from bot.reports.dates import parse_day, parse_range
from bot.reports.forms import (
    FormError,
    ReportForm,
    normalise,
    read_report_line,
)
from bot.reports.incident_chat import IncidentChat
from bot.reports.incident_text import fields as incident_fields
from bot.reports.intents import means_zero_report
from bot.reports.limits import clip
from bot.reports.notify import Notifier, site_line
from bot.reports.pages import session_label, stats_replies, status_replies, summary_text
from bot.reports.scope import Coordinators, Scope
from bot.reports.service import IncidentView, ReportError, ReportService, ReportView
from bot.reports.template import Field
from bot.reports.views import cn_day

R = TypeVar("R", list[Reply], Outcome)
_NOTICE_KINDS = {"reminder": "提醒", "digest": "截止汇总", "escalation": "重大事件通报",
                 "receipt": "事件回执"}  # fmt: skip


class CommandHost(Protocol):
    """What the report commands need of the core they plug into (no import of the core)."""

    role_checks: list[Callable[[Message], set[str]]]
    intents: list[Callable[[Message, str], Outcome | None]]

    def register(self, name: str, handler: Callable[[Message, str], list[Reply] | Outcome],
                 description: str, role: str = "all") -> None:  # fmt: skip
        """Add a slash command."""
        ...


def _fmt_time(service: ReportService, at: datetime) -> str:
    return at.astimezone(service.schedule.tz).strftime("%H:%M")


class ReportCommands:
    """The report workflow as chat commands, installed into a `Core`."""

    def __init__(
        self,
        service: ReportService,
        notifier: Notifier,
        coordinator_ids: list[int],
        directory: Coordinators | None = None,
    ):
        self.service = service
        self.notifier = notifier
        self.directory = directory or Coordinators(coordinator_ids)
        self.coordinators = set(coordinator_ids) | set(self.directory.ids())
        self.incidents = IncidentChat(service, notifier, self.cmd_report)
        # Issues a web console sign-in URL for a user; set by the wiring (`build_reports`).
        self.web_link: Callable[[int], str] | None = None

    def scope_of(self, user_id: int) -> Scope | None:
        """The sites a coordinator may see (None: not a coordinator)."""
        return self.directory.scope_of(user_id) if user_id in self.coordinators else None

    def install(self, core: CommandHost) -> None:
        """Register the commands, the role check and the free-text intents."""
        core.role_checks.append(self.roles)
        core.intents += [
            self.incidents.photo_intent,
            self.incidents.zero_then_intent,
            lambda msg, text: self.incidents.ack_intent(msg, text, self.coordinators),
            self.zero_intent,
        ]
        incident = self.incidents.cmd_incident
        for name, handler, text, role in (
            ("bind", self.cmd_bind, "绑定考点：/bind 考点代码 加入码（请私聊）", "all"),
            ("zero", self.cmd_zero, "零报告：今日考务正常，无异常", "chief"),
            ("report", self.cmd_report, "填写日报（逐项填写，或一行写完）", "chief"),
            ("incident", incident, "报告事件：/incident 级别 经过", "chief"),
            ("myreports", self.cmd_myreports, "查看本考点近 7 天提交的各版本报告", "chief"),
            (
                "status",
                self.cmd_status,
                "未报、迟报、已报考点：/status [日期] [场次]",
                "coordinator",
            ),
            ("summary", self.cmd_summary, "当日汇总：/summary [日期] [场次]", "coordinator"),
            ("stats", self.cmd_stats, "多日统计（迟报率、事件）：/stats [日期区间]", "coordinator"),
            ("incidents", self.cmd_incidents, "事件列表：/incidents [日期]", "coordinator"),
            ("export", self.cmd_export, "导出 CSV 和 Excel：/export [日期或区间]", "coordinator"),
            ("remind", self.cmd_remind, "立即提醒未报考点：/remind [考点代码]", "coordinator"),
            ("web", self.cmd_web, "招生办工作台登录链接（请私聊）", "coordinator"),
        ):
            core.register(name, handler, text, role)
        core.register("ack", self.cmd_ack, "确认收到事件：/ack 事件编号", "coordinator")

    def roles(self, msg: Message) -> set[str]:
        """chief: bound to a site; coordinator: listed in COORDINATOR_IDS."""
        out = set()
        if msg.user_id in self.coordinators:
            out.add("coordinator")
        if self.service.site_of(msg.user_id) is not None:
            out.add("chief")
        return out

    def _guard(self, msg: Message, run: Callable[[], R]) -> R | list[Reply]:
        try:
            return run()
        except (ReportError, FormError) as exc:
            return [Reply(str(exc))]

    def _coordinator(self, msg: Message, run: Callable[[], list[Reply]]) -> list[Reply]:
        if msg.user_id not in self.coordinators:
            return [Reply(prompts.load("coordinator_only"))]
        return self._guard(msg, run)

    # ------------------------------------------------------------------ everyone
    def cmd_bind(self, msg: Message, args: str) -> list[Reply]:
        """/bind <考点代码> <加入码>"""
        if not msg.is_private:
            return [Reply(prompts.load("bind_private_only"))]
        parts = args.split()
        if len(parts) != 2:
            return [Reply(prompts.load("bind_usage"))]

        def run() -> list[Reply]:
            site, outcome = self.service.bind(msg.user_id, msg.user_name, parts[0], parts[1],
                                              self.notifier.coordinator_targets)  # fmt: skip
            return [Reply(prompts.render(f"bind_{outcome}", site=site_line(site)))]

        return self._guard(msg, run)

    # ------------------------------------------------------------------ site chiefs
    def cmd_zero(self, msg: Message, args: str) -> list[Reply]:
        """/zero: 零报告 for the user's site and today."""
        return self._guard(msg, lambda: self._saved(self.service.submit(
            msg.user_id, msg.user_name, None, msg.delivery_key,
            zero=self.service.zero_form(args))[0]))  # fmt: skip

    def zero_intent(self, msg: Message, text: str) -> Outcome | None:
        """Free text from a bound chief that means "today all is well": offered as a one-tap
        零报告 (a question about zero reports is left to be answered)."""
        if not means_zero_report(text):
            return None
        site = self.service.site_of(msg.user_id)
        if site is None:
            return None
        day = self.service.today()
        text = prompts.render("zero_offer", site=site.name, day=f"{day.month}月{day.day}日")
        return Outcome([Reply(text, choices=["确认", "取消"])], ZeroOffer(self))

    def cmd_ack(self, msg: Message, args: str) -> Outcome:
        """/ack <事件编号>: 招生办 has received the incident; its reporter is told."""
        digits = args.strip().lstrip("#").strip()
        if not digits.isdigit():
            return Outcome([Reply(prompts.load("incident_ack_usage"))])
        return self.incidents.acknowledge(msg, int(digits), self.coordinators)

    def _saved(self, r: ReportView) -> list[Reply]:
        kind = "零报告" if r.kind == "zero" else "日报"
        text = prompts.render(
            "report_saved",
            site=r.site.name,
            day=cn_day(r.day) + session_label(r.session),
            kind=kind,
            version=r.version,
            time=_fmt_time(self.service, r.submitted_at),
        )
        if r.late:
            deadline = self.service.schedule.deadline(r.day, r.session).strftime("%H:%M")
            text += "\n" + prompts.render("report_late", deadline=deadline)
        return [Reply(text)]

    def cmd_report(self, msg: Message, args: str) -> list[Reply] | Outcome:
        """/report: guided step by step, or one line "应考=300 实考=298 …" shown back first."""

        def run() -> Outcome:
            site = self.service.site_of(msg.user_id)
            if site is None:
                raise ReportError(prompts.load("not_bound"))
            self.service.filing()  # refused now rather than after every field was typed
            template = self.service.template
            if not args:
                dialogue = ReportDialogue(self, form=ReportForm(template=template))
                start = prompts.render("report_start", site=site.name, n=len(template.fields))
                return Outcome([Reply(start + "\n" + dialogue.prompt())], dialogue)
            form, problems = read_report_line(args, template)
            if problems:
                raise FormError(problems)
            if form.missing():
                # What was given is kept; only what is missing is asked for.
                dialogue = ReportDialogue(self, form=form, only_required=True)
                dialogue.index = dialogue.next_index(0)
                filled = "、".join(f"{f.label}{form.values[f.name]}" for f in template.fields
                                  if f.name in form.values)  # fmt: skip
                head = prompts.render("report_more_fields", filled=filled or "无",
                                      n=len(form.missing()))  # fmt: skip
                return Outcome([Reply(head + "\n" + dialogue.prompt())], dialogue)
            checks = form.check_problems()
            if checks:
                raise FormError([p for p, _ in checks])
            confirm = prompts.render("report_confirm", summary=form.summary())
            return Outcome([Reply(confirm, choices=["确认", "取消"])],
                           ReportDialogue(self, form=form, confirming=True))  # fmt: skip

        return self._guard(msg, run)

    def redelivered(self, msg: Message) -> list[Reply] | None:
        """The reply a platform delivery got the first time, when it stored a report or incident."""
        if msg.delivery_key is None:
            return None
        seen = self.service.redelivered(msg.delivery_key)
        if seen is None:
            return None
        _kind, view = seen
        if isinstance(view, IncidentView):
            return self.incidents.saved(view).replies
        return self._saved(view)

    def cmd_myreports(self, msg: Message, args: str) -> list[Reply]:
        """/myreports: every version of this site's reports in the last 7 days."""

        def run() -> list[Reply]:
            versions = self.service.versions(msg.user_id)
            if not versions:
                return [Reply(prompts.load("no_reports_yet"))]
            return [Reply("\n".join(self._version_line(v) for v in versions))]

        return self._guard(msg, run)

    def _version_line(self, v: ReportView) -> str:
        kind = "零报告" if v.kind == "zero" else "日报"
        who = v.submitted_name or str(v.submitted_by)
        late = "（迟报）" if v.late else ""
        when = cn_day(v.day) + session_label(v.session)
        line = (
            f"{when} 第{v.version}版 {kind} {_fmt_time(self.service, v.submitted_at)} {who}{late}"
        )
        if v.kind == "full":
            x = v.values
            line += (
                f"：应考{x['expected']} 实考{x['present']} 缺考{x['absent']} 违纪{x['violations']}"
            )
        return line

    # ------------------------------------------------------------------ coordinators
    def _day(self, args: str) -> date:
        return parse_day(args, self.service.today())

    def _scope(self, msg: Message) -> Scope:
        scope = self.scope_of(msg.user_id)
        assert scope is not None  # _coordinator let only coordinators through
        return scope

    def _day_sessions(self, args: str) -> tuple[date, list[str]]:
        """ "[日期] [场次]": the day and the sessions to show (every session when none named)."""
        words = normalise(args).split()
        day = self.service.today()
        keys = self.service.schedule.session_keys(day)
        named = [w for w in words if w in keys or w.removesuffix("场") in keys]
        rest = " ".join(w for w in words if w not in named)
        try:
            day = self._day(rest)
        except ReportError:
            if keys != [""] and len(words) == 1:
                raise ReportError(
                    f"{cn_day(day)}没有“{clip(words[0])}”这一场。可选：{'、'.join(keys)}"
                ) from None
            raise
        keys = self.service.schedule.session_keys(day)
        chosen = [k for k in keys if k in {w.removesuffix("场") for w in named} | set(named)]
        if named and not chosen:
            raise ReportError(f"{cn_day(day)}没有“{named[0]}”这一场。可选：{'、'.join(keys)}")
        return day, chosen or keys

    def cmd_status(self, msg: Message, args: str) -> list[Reply]:
        """/status [日期] [场次]"""

        def run() -> list[Reply]:
            day, sessions = self._day_sessions(args)
            out: list[Reply] = []
            for session in sessions:
                out += status_replies(self.service.status(day, session, self._scope(msg)))
            failed = self.service.outbox.failed_recent()
            if failed:
                lines = "\n".join(
                    prompts.render("notice_failed_line", kind=_NOTICE_KINDS.get(n.kind, n.kind),
                                   chat=n.chat_id, reason=clip(n.last_error, 120),
                                   text=clip(n.text.splitlines()[0] if n.text else "", 40))
                    for n in failed[-10:]
                )  # fmt: skip
                out.append(Reply(prompts.render("notice_failed", n=len(failed), lines=lines)))
            return out

        return self._coordinator(msg, run)

    def cmd_summary(self, msg: Message, args: str) -> list[Reply]:
        """/summary [日期] [场次]"""

        def run() -> list[Reply]:
            day, sessions = self._day_sessions(args)
            return [Reply(summary_text(self.service.summary(day, session, self._scope(msg))))
                    for session in sessions]  # fmt: skip

        return self._coordinator(msg, run)

    def cmd_stats(self, msg: Message, args: str) -> list[Reply]:
        """/stats [日期区间]: late rate per site, incidents by level and day (default: 7 days)."""

        def run() -> list[Reply]:
            today = self.service.today()
            if args.strip():
                start, end = parse_range(args, today)
            else:
                start, end = today - timedelta(days=6), today
            return stats_replies(self.service.stats(start, end, self._scope(msg)))

        return self._coordinator(msg, run)

    def cmd_incidents(self, msg: Message, args: str) -> list[Reply]:
        """/incidents [日期]"""

        def run() -> list[Reply]:
            day = self._day(args)
            found = self.service.incidents(day, scope=self._scope(msg))
            if not found:
                return [Reply(prompts.render("no_incidents", day=cn_day(day)))]
            lines = [prompts.render("incident_line", **incident_fields(self.service, i))
                     for i in found]  # fmt: skip
            return [Reply(f"{cn_day(day)} 事件 {len(found)} 起：\n" + "\n".join(lines))]

        return self._coordinator(msg, run)

    def cmd_export(self, msg: Message, args: str) -> list[Reply]:
        """/export [日期或区间]: CSV and XLSX files (the sites of the coordinator's scope)."""

        def run() -> list[Reply]:
            start, end = parse_range(args, self.service.today())
            scope = self._scope(msg)
            span = start.isoformat() if start == end else f"{start}_{end}"
            csv_file = OutFile(
                f"kaowu-{span}.csv", export.to_csv(self.service, start, end, scope), "text/csv"
            )
            xlsx_file = OutFile(
                f"kaowu-{span}.xlsx",
                export.to_xlsx(self.service, start, end, scope),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
            label = cn_day(start) if start == end else f"{cn_day(start)}至{cn_day(end)}"
            return [
                Reply(prompts.render("export_ready", span=label, kind="CSV"), file=csv_file),
                Reply(prompts.render("export_ready", span=label, kind="Excel"), file=xlsx_file),
            ]

        return self._coordinator(msg, run)

    def cmd_remind(self, msg: Message, args: str) -> list[Reply]:
        """/remind [考点代码]: nudge the chiefs of sites (in scope) that have not reported."""

        def run() -> list[Reply]:
            day = self.service.today()
            scope = self._scope(msg)
            code = normalise(args).strip()
            if code:
                return self._remind_one(day, code, scope)
            nudges = self.notifier.reminders(day, scope=scope)
            self.service.queue(nudges)
            unreachable = self.notifier.unreachable(day, scope=scope)
            missing = {s.code for k in self.service.schedule.session_keys(day)
                       for s in self.service.status(day, k, scope).missing}  # fmt: skip
            text = prompts.render(
                "remind_done",
                chiefs=len(nudges),
                missing=len(missing),
                unreachable="、".join(site_line(s) for s in unreachable) or "无",
            )
            return [Reply(text)]

        return self._coordinator(msg, run)

    def _remind_one(self, day: date, code: str, scope: Scope) -> list[Reply]:
        site = next((s for s in self.service.sites() if s.code == code), None)
        if site is None:
            raise ReportError(prompts.render("no_such_site", code=clip(code)))
        if not scope.allows(site):
            raise ReportError(prompts.render("out_of_scope", code=code, scope=scope.label))
        session = self.service.schedule.session_at(day, self.service.now())
        if session == "" and self.service.schedule.sessions(day):
            session = self.service.schedule.session_keys(day)[0]
        nudges = [n for n in self.notifier.reminders(day, scope=scope, session=session)
                  if n.dedup.split(":")[2] == code]  # fmt: skip
        if not nudges:
            if code not in {s.code for s in self.service.status(day, session, scope).missing}:
                return [Reply(prompts.render("remind_not_needed", site=site_line(site),
                                             session=session_label(session)))]  # fmt: skip
            return [Reply(prompts.render("remind_unreachable", site=site_line(site)))]
        self.service.queue(nudges)
        return [Reply(prompts.render("remind_one_done", site=site_line(site), chiefs=len(nudges),
                                     day=cn_day(day), session=session_label(session)))]  # fmt: skip

    def cmd_web(self, msg: Message, args: str) -> list[Reply]:
        """/web: a single-use sign-in link to the web console, in private chat only."""

        def run() -> list[Reply]:
            if not msg.is_private:
                return [Reply(prompts.load("web_private_only"))]
            assert self.web_link is not None
            return [Reply(prompts.render("web_link", url=self.web_link(msg.user_id), minutes=10))]

        return self._coordinator(msg, run)


@dataclass
class ReportDialogue:
    """/report step by step: one field per message, then a confirmation.

    Fields already filled (from a one-line report) are skipped; when a check across fields fails
    only one field is asked again, and any field can be corrected by writing it out (应考301).
    """

    commands: ReportCommands
    form: ReportForm = field(default_factory=ReportForm)
    index: int = 0
    confirming: bool = False
    only_required: bool = False  # started from a one-line report: ask only what it lacks

    @property
    def fields(self) -> tuple[Field, ...]:
        """The template's fields."""
        return self.form.template.fields

    def next_index(self, start: int) -> int:
        """The first field from `start` on that is still empty (len(fields): none)."""
        for i in range(start, len(self.fields)):
            f = self.fields[i]
            if f.name not in self.form.values and (f.required or not self.only_required):
                return i
        return len(self.fields)

    def prompt(self) -> str:
        """The question for the current field, with an example answer."""
        f = self.fields[self.index]
        hint = f"例如：{f.example}" + ("；没有可回复“无”" if not f.required else "")
        return prompts.render(
            "report_field", n=self.index + 1, total=len(self.fields), label=f.label, hint=hint
        )

    def step(self, msg: Message, text: str) -> Outcome:
        """Take one answer; the dialogue goes on until confirmed or cancelled."""
        replies, done = self._step(msg, text)
        return Outcome(replies, None if done else self)

    def _step(self, msg: Message, text: str) -> tuple[list[Reply], bool]:
        if self.confirming:
            return self._confirm(msg, text)
        f = self.fields[self.index]
        correction, problems = read_report_line(text, self.form.template)
        if correction.values and not problems:
            self.form.values.update(correction.values)  # "应考301": a named field, any field
        else:
            try:
                self.form.set(f, text)
            except FormError as exc:
                return [Reply(f"{exc}\n{self.prompt()}")], False
        checks = self.form.check_problems()
        if checks:
            problem, name = checks[0]
            self.form.values.pop(name, None)  # only this field is asked again
            self.index = self.next_index(0)
            again = self.form.template.field(name)
            others = [x for x in self.fields if x.kind == "count" and x.name != name][:1]
            example = " ".join(f"{self.form.template.short(x)}{x.example}" for x in others)
            text = prompts.render("report_check_failed", problem=problem, label=again.label,
                                  example=example or again.example)  # fmt: skip
            return [Reply(text + "\n" + self.prompt())], False
        self.index = self.next_index(0)
        if self.index < len(self.fields):
            return [Reply(self.prompt())], False
        problems = self.form.problems()
        if problems:
            return [Reply(problems[0] + "\n" + self.prompt())], False
        self.confirming = True
        summary = self.form.summary()
        return [
            Reply(prompts.render("report_confirm", summary=summary), choices=["确认", "取消"])
        ], False

    def _confirm(self, msg: Message, text: str) -> tuple[list[Reply], bool]:
        if is_no(text):
            return [Reply(prompts.load("cancelled"))], True
        if not is_yes(text):
            return [Reply(prompts.load("confirm_again"), choices=["确认", "取消"])], False
        c = self.commands
        try:
            stored, _ = c.service.submit(msg.user_id, msg.user_name, self.form, msg.delivery_key)
        except ReportError as exc:
            return [Reply(str(exc))], True
        return c._saved(stored), True


@dataclass
class ZeroOffer:
    """A 零报告 offered for free text that meant one: stored on 确认."""

    commands: ReportCommands

    def step(self, msg: Message, text: str) -> Outcome:
        """确认 stores the zero report, 取消 drops it, anything else asks again."""
        if is_no(text):
            return Outcome([Reply(prompts.load("cancelled"))])
        if not is_yes(text):
            return Outcome([Reply(prompts.load("confirm_again"), choices=["确认", "取消"])], self)
        return Outcome(self.commands.cmd_zero(msg, ""))
