"""Report commands for the core. Each handler parses its input, calls the service, replies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

import prompts
from bot.messages import Message, OutFile, Reply
from bot.reports import export
from bot.reports.dates import parse_day, parse_range
from bot.reports.forms import (
    LEVELS,
    REPORT_FIELDS,
    FormError,
    IncidentForm,
    ReportForm,
    parse_incident_line,
    parse_level,
    parse_report_line,
)
from bot.reports.limits import clip, field_problem
from bot.reports.notify import Notifier, site_line
from bot.reports.outbox import PendingNotice
from bot.reports.service import IncidentView, ReportError, ReportService, ReportView, SiteInfo

if TYPE_CHECKING:
    from bot.core import Core

_NOTICE_KINDS = {"reminder": "提醒", "digest": "截止汇总", "escalation": "重大事件通报"}
YES = {"确认", "是", "是的", "提交", "确定", "对", "y", "yes", "ok", "好"}
NO = {"取消", "否", "不", "no", "n", "算了"}
SKIP = {"无", "没有", "跳过", "-", "略"}


def _fmt_time(service: ReportService, at: datetime) -> str:
    return at.astimezone(service.schedule.tz).strftime("%H:%M")


class ReportCommands:
    """The report workflow as chat commands, installed into a `Core`."""

    def __init__(self, service: ReportService, notifier: Notifier, coordinator_ids: list[int]):
        self.service = service
        self.notifier = notifier
        self.coordinators = set(coordinator_ids)
        self.core: Core | None = None
        # Issues a web console sign-in URL for a user; set by the wiring (`build_reports`).
        self.web_link: Callable[[int], str] | None = None

    def install(self, core: Core) -> None:
        """Register the commands and the role check."""
        self.core = core
        core.role_checks.append(self.roles)
        for name, handler, text, role in (
            ("bind", self.cmd_bind, "绑定考点：/bind 考点代码 加入码（请私聊）", "all"),
            ("zero", self.cmd_zero, "零报告：今日考务正常，无异常", "chief"),
            ("report", self.cmd_report, "填写每日报告（逐项填写，或一行写完）", "chief"),
            ("incident", self.cmd_incident, "报告事件：/incident 级别 经过", "chief"),
            ("myreports", self.cmd_myreports, "查看本考点近 7 天提交的各版本报告", "chief"),
            ("status", self.cmd_status, "已报、迟报、未报考点：/status [日期]", "coordinator"),
            ("summary", self.cmd_summary, "当日汇总：/summary [日期]", "coordinator"),
            ("incidents", self.cmd_incidents, "事件列表：/incidents [日期]", "coordinator"),
            ("export", self.cmd_export, "导出 CSV 和 Excel：/export [日期或区间]", "coordinator"),
            ("remind", self.cmd_remind, "立即提醒未报考点", "coordinator"),
            ("web", self.cmd_web, "招生办工作台登录链接（请私聊）", "coordinator"),
        ):
            core.register(name, handler, text, role)

    def roles(self, msg: Message) -> set[str]:
        """chief: bound to a site; coordinator: listed in COORDINATOR_IDS."""
        out = set()
        if msg.user_id in self.coordinators:
            out.add("coordinator")
        if self.service.site_of(msg.user_id) is not None:
            out.add("chief")
        return out

    def _guard(self, msg: Message, run: Callable[[], list[Reply]]) -> list[Reply]:
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
            site, outcome = self.service.bind(msg.user_id, msg.user_name, parts[0], parts[1])
            return [Reply(prompts.render(f"bind_{outcome}", site=site_line(site)))]

        return self._guard(msg, run)

    # ------------------------------------------------------------------ site chiefs
    def cmd_zero(self, msg: Message, args: str) -> list[Reply]:
        """/zero: 零报告 for the user's site and today."""
        return self._guard(msg, lambda: self._saved(self.service.submit(
            msg.user_id, msg.user_name, None, msg.delivery_key)[0]))  # fmt: skip

    def _saved(self, r: ReportView) -> list[Reply]:
        kind = "零报告" if r.kind == "zero" else "日报"
        text = prompts.render(
            "report_saved",
            site=r.site.name,
            day=f"{r.day:%m月%d日}",
            kind=kind,
            version=r.version,
            time=_fmt_time(self.service, r.submitted_at),
        )
        if r.late:
            deadline = self.service.schedule.deadline(r.day).strftime("%H:%M")
            text += "\n" + prompts.render("report_late", deadline=deadline)
        return [Reply(text)]

    def cmd_report(self, msg: Message, args: str) -> list[Reply]:
        """/report: guided step by step, or one line "应考=300 实考=298 …" shown back first."""
        core = self.core
        assert core is not None

        def run() -> list[Reply]:
            site = self.service.site_of(msg.user_id)
            if site is None:
                raise ReportError(prompts.load("not_bound"))
            if not args:
                dialogue = ReportDialogue(self)
                core.begin(msg, dialogue)
                return [
                    Reply(prompts.render("report_start", site=site.name) + "\n" + dialogue.prompt())
                ]
            form = parse_report_line(args)
            core.begin(msg, ReportDialogue(self, form=form, confirming=True))
            return [
                Reply(
                    prompts.render("report_confirm", summary=form.summary()),
                    choices=["确认", "取消"],
                )
            ]

        return self._guard(msg, run)

    def cmd_incident(self, msg: Message, args: str) -> list[Reply]:
        """/incident <级别> <经过> [考场=… 时间=… 措施=…]; guided when arguments are missing."""
        core = self.core
        assert core is not None

        def run() -> list[Reply]:
            if self.service.site_of(msg.user_id) is None:
                raise ReportError(prompts.load("not_bound"))
            if not args:
                dialogue = IncidentDialogue(self)
                core.begin(msg, dialogue)
                return [Reply(dialogue.prompt(), choices=list(LEVELS))]
            if " " not in args.strip():
                form = IncidentForm(level=parse_level(args))
                dialogue = IncidentDialogue(self, form=form, step=1)
                core.begin(msg, dialogue)
                return [Reply(dialogue.prompt())]
            return self.save_incident(msg, parse_incident_line(args))

        return self._guard(msg, run)

    def save_incident(self, msg: Message, form: IncidentForm) -> list[Reply]:
        """Store an incident; 重大 and 特别重大 also go to the coordinators at once."""
        inc, _duplicate = self.service.add_incident(
            msg.user_id, msg.user_name, form, msg.delivery_key, alerts=self._alerts
        )
        return self._incident_saved(inc)

    def _incident_saved(self, inc: IncidentView) -> list[Reply]:
        text = prompts.render("incident_saved", **self._incident_fields(inc))
        if inc.escalated and self.notifier.coordinator_targets:
            text += "\n" + prompts.load("incident_escalated")
        return [Reply(text)]

    def _alerts(self, inc: IncidentView) -> list[PendingNotice]:
        """The alert of an escalated incident for each coordinator target (queued with it)."""
        alert = prompts.render("incident_alert", **self._incident_fields(inc))
        return [PendingNotice("escalation", f"escalation:{inc.id}:{t}", t, alert)
                for t in self.notifier.coordinator_targets]  # fmt: skip

    def redelivered(self, msg: Message) -> list[Reply] | None:
        """The reply a platform delivery got the first time, when it stored a report or incident."""
        if msg.delivery_key is None:
            return None
        seen = self.service.redelivered(msg.delivery_key)
        if seen is None:
            return None
        _kind, view = seen
        if isinstance(view, IncidentView):
            return self._incident_saved(view)
        return self._saved(view)

    def _incident_fields(self, inc: IncidentView) -> dict[str, str]:
        return {
            "site": site_line(inc.site),
            "level": inc.level,
            "description": inc.description,
            "room": inc.room or "未填",
            "occurred": inc.occurred or "未填",
            "measures": inc.measures or "未填",
            "reporter": inc.reported_name or "未知",
            "time": _fmt_time(self.service, inc.reported_at),
        }

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
        line = f"{v.day:%m月%d日} 第{v.version}版 {kind} {_fmt_time(self.service, v.submitted_at)} {who}{late}"
        if v.kind == "full":
            x = v.values
            line += (
                f"：应考{x['expected']} 实考{x['present']} 缺考{x['absent']} 违纪{x['violations']}"
            )
        return line

    # ------------------------------------------------------------------ coordinators
    def _day(self, args: str) -> date:
        return parse_day(args, self.service.today())

    def cmd_status(self, msg: Message, args: str) -> list[Reply]:
        """/status [日期]"""

        def run() -> list[Reply]:
            st = self.service.status(self._day(args))

            def names(sites: list[SiteInfo]) -> str:
                return "、".join(site_line(s) for s in sites) or "无"

            failed = self.service.outbox.failed_recent()
            text = prompts.render(
                "status",
                day=f"{st.day:%m月%d日}",
                deadline=st.deadline.strftime("%H:%M"),
                n_reported=len(st.reported),
                reported=names(st.reported),
                n_late=len(st.late),
                late=names(st.late),
                n_missing=len(st.missing),
                missing=names(st.missing),
                incidents="、".join(f"{code} {n} 起" for code, n in sorted(st.incidents.items()))
                or "无",
            )
            if failed:
                lines = "\n".join(
                    prompts.render("notice_failed_line", kind=_NOTICE_KINDS.get(n.kind, n.kind),
                                   chat=n.chat_id, reason=clip(n.last_error, 120),
                                   text=clip(n.text.splitlines()[0] if n.text else "", 40))
                    for n in failed[-10:]
                )  # fmt: skip
                text += "\n" + prompts.render("notice_failed", n=len(failed), lines=lines)
            return [Reply(text)]

        return self._coordinator(msg, run)

    def cmd_summary(self, msg: Message, args: str) -> list[Reply]:
        """/summary [日期]"""

        def run() -> list[Reply]:
            s = self.service.summary(self._day(args))
            levels = "，".join(f"{level} {s.incidents.get(level, 0)}" for level in LEVELS)
            text = prompts.render(
                "summary", day=f"{s.day:%m月%d日}", sites=s.sites, reported=s.reported,
                late=s.late, missing=s.missing, zero=s.zero, expected=s.expected,
                present=s.present, absent=s.absent, violations=s.violations, levels=levels,
            )  # fmt: skip
            return [Reply(text)]

        return self._coordinator(msg, run)

    def cmd_incidents(self, msg: Message, args: str) -> list[Reply]:
        """/incidents [日期]"""

        def run() -> list[Reply]:
            day = self._day(args)
            found = self.service.incidents(day)
            if not found:
                return [Reply(prompts.render("no_incidents", day=f"{day:%m月%d日}"))]
            lines = [prompts.render("incident_line", **self._incident_fields(i)) for i in found]
            return [Reply(f"{day:%m月%d日} 事件 {len(found)} 起：\n" + "\n".join(lines))]

        return self._coordinator(msg, run)

    def cmd_export(self, msg: Message, args: str) -> list[Reply]:
        """/export [日期或区间]: CSV and XLSX files."""

        def run() -> list[Reply]:
            start, end = parse_range(args, self.service.today())
            span = start.isoformat() if start == end else f"{start}_{end}"
            csv_file = OutFile(
                f"kaowu-{span}.csv", export.to_csv(self.service, start, end), "text/csv"
            )
            xlsx_file = OutFile(
                f"kaowu-{span}.xlsx",
                export.to_xlsx(self.service, start, end),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
            label = str(start) if start == end else f"{start} 至 {end}"
            return [
                Reply(prompts.render("export_ready", span=label, kind="CSV"), file=csv_file),
                Reply(prompts.render("export_ready", span=label, kind="Excel"), file=xlsx_file),
            ]

        return self._coordinator(msg, run)

    def cmd_remind(self, msg: Message, args: str) -> list[Reply]:
        """/remind: nudge the chiefs of sites that have not reported today."""

        def run() -> list[Reply]:
            day = self.service.today()
            nudges = self.notifier.reminders(day)
            self.service.queue(nudges)
            unreachable = self.notifier.unreachable(day)
            text = prompts.render(
                "remind_done",
                chiefs=len(nudges),
                missing=len(self.service.status(day).missing),
                unreachable="、".join(site_line(s) for s in unreachable) or "无",
            )
            return [Reply(text)]

        return self._coordinator(msg, run)

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
    """/report step by step: one field per message, then a confirmation."""

    commands: ReportCommands
    form: ReportForm = field(default_factory=ReportForm)
    index: int = 0
    confirming: bool = False

    def prompt(self) -> str:
        """The question for the current field."""
        f = REPORT_FIELDS[self.index]
        hint = "整数" if f.kind == "count" else ("可回复“无”" if not f.required else "文字")
        return prompts.render(
            "report_field", n=self.index + 1, total=len(REPORT_FIELDS), label=f.label, hint=hint
        )

    def step(self, msg: Message, text: str) -> tuple[list[Reply], bool]:
        """Take one answer."""
        if self.confirming:
            return self._confirm(msg, text)
        f = REPORT_FIELDS[self.index]
        try:
            self.form.set(f, text)
        except FormError as exc:
            return [Reply(f"{exc}\n{self.prompt()}")], False
        if f.name == "absent":
            problems = [p for p in self.form.problems() if "与应考" in p]
            if problems:
                for name in ("expected", "present", "absent"):
                    self.form.values.pop(name, None)
                self.index = 0
                return [Reply(problems[0] + "\n请从应考人数重新填写。\n" + self.prompt())], False
        self.index += 1
        if self.index < len(REPORT_FIELDS):
            return [Reply(self.prompt())], False
        problems = self.form.problems()
        if problems:  # e.g. more violations than candidates present
            self.form.values.pop("violations", None)
            self.index = next(i for i, x in enumerate(REPORT_FIELDS) if x.name == "violations")
            return [Reply(problems[0] + "\n" + self.prompt())], False
        self.confirming = True
        summary = self.form.summary()
        return [
            Reply(prompts.render("report_confirm", summary=summary), choices=["确认", "取消"])
        ], False

    def _confirm(self, msg: Message, text: str) -> tuple[list[Reply], bool]:
        word = text.strip().lower()
        if word in NO:
            return [Reply(prompts.load("cancelled"))], True
        if word not in YES:
            return [Reply(prompts.load("confirm_again"), choices=["确认", "取消"])], False
        c = self.commands
        try:
            stored, _ = c.service.submit(msg.user_id, msg.user_name, self.form, msg.delivery_key)
        except ReportError as exc:
            return [Reply(str(exc))], True
        return c._saved(stored), True


_INCIDENT_STEPS = ("level", "description", "room", "occurred", "measures")


class IncidentDialogue:
    """/incident step by step: level, what happened, room, time, measures; then stored."""

    def __init__(self, commands: ReportCommands, form: IncidentForm | None = None, step: int = 0):
        self.commands = commands
        self.form = form or IncidentForm()
        self.step_index = step

    def prompt(self) -> str:
        """The question for the current step."""
        return prompts.load(f"incident_ask_{_INCIDENT_STEPS[self.step_index]}")

    def step(self, msg: Message, text: str) -> tuple[list[Reply], bool]:
        """Take one answer; store the incident after the last one."""
        name = _INCIDENT_STEPS[self.step_index]
        value = text.strip()
        if name == "level":
            try:
                self.form.level = parse_level(value)
            except FormError as exc:
                return [Reply(str(exc), choices=list(LEVELS))], False
        elif name == "description":
            if len(value) < 2:
                return [Reply(self.prompt())], False
            long = field_problem("description", value)
            if long:
                return [Reply(f"{long}\n{self.prompt()}")], False
            self.form.description = value
        else:
            long = field_problem(name, value)
            if long:
                return [Reply(f"{long}\n{self.prompt()}")], False
            setattr(self.form, name, "" if value in SKIP else value)
        self.step_index += 1
        if self.step_index < len(_INCIDENT_STEPS):
            return [Reply(self.prompt())], False
        try:
            return self.commands.save_incident(msg, self.form), True
        except ReportError as exc:
            return [Reply(str(exc))], True
