"""Incidents in chat: /incident with its echo and one-tap confirmation, follow-ups (续报/终报),
corrections and withdrawal, 招生办's one-tap acknowledgement, and photos.

Nothing is stored before the chief confirms what was echoed back; a level that is missing is
asked with buttons; 重大 and 特别重大 skip the optional questions so they go out with one tap.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import prompts
from bot.messages import Message, Outcome, Reply, is_no, is_yes
from bot.reports.errors import ReportError
from bot.reports.forms import ESCALATED_LEVELS, LEVELS, FormError
from bot.reports.incident_forms import (
    IncidentForm,
    parse_incident_line,
    parse_level,
    split_action,
    split_level,
)
from bot.reports.incident_text import ACK_WORD, alert_notices, fields, receipt_notices
from bot.reports.limits import clip, field_problem
from bot.reports.notify import Notifier
from bot.reports.outbox import PendingNotice
from bot.reports.views import IncidentView, SiteInfo

if TYPE_CHECKING:
    from bot.reports.service import ReportService

CONFIRM = ["确认", "取消"]
FILE_REPORT, LATER = "填写日报", "稍后"
SKIP = {"无", "没有", "跳过", "-", "略"}
_ACK = re.compile(r"^(?:" + ACK_WORD + r"|收到)\s*#?\s*(\d{1,9})$")
_NUMBER = re.compile(r"#\s*(\d{1,9})")
_EXAMPLES = {"续报": "已联系考生家长，考生情绪稳定", "终报": "已处置完毕，考试秩序正常"}


class IncidentChat:
    """The incident commands; `report` opens the guided daily report (zero-then-incident)."""

    def __init__(self, service: ReportService, notifier: Notifier,
                 report: Callable[[Message, str], list[Reply] | Outcome]) -> None:  # fmt: skip
        self.service = service
        self.notifier = notifier
        self.report = report

    # ------------------------------------------------------------------ /incident
    def cmd_incident(self, msg: Message, args: str) -> Outcome:
        """/incident [续报|终报|更正|撤回 #编号] <级别> <经过> [考场=… 时间=… 措施=…]."""
        try:
            return self._incident(msg, args)
        except (ReportError, FormError) as exc:
            return Outcome([Reply(str(exc))])

    def _incident(self, msg: Message, args: str) -> Outcome:
        if self.service.site_of(msg.user_id) is None:
            raise ReportError(prompts.load("not_bound"))
        action, number, rest = split_action(args)
        if action:
            return self._follow(msg, action, number, rest)
        if not args:
            return IncidentDialogue(self, msg, IncidentForm(), guided=True).ask()
        level, description = split_level(args)
        if level and not description:
            return IncidentDialogue(self, msg, IncidentForm(level=level), guided=True).ask()
        form = parse_incident_line(args)
        why = ""
        if not form.level:
            first = args.split(" ", 1)[0]
            if " " in args and len(first) <= 4:  # "严重 考场停电": a word meant as a level
                why = prompts.render("incident_not_a_level", word=clip(first))
        return IncidentDialogue(self, msg, form, why=why).ask()

    def _follow(self, msg: Message, action: str, number: int | None, rest: str) -> Outcome:
        service = self.service
        if number is None:
            m = _NUMBER.search(rest)
            number = int(m.group(1)) if m else None
            rest = _NUMBER.sub(" ", rest, count=1).strip()
        if number is None:
            number = service.latest_incident(msg.user_id, open_only=action in ("续报", "终报"))
        if number is None:
            raise ReportError(prompts.render("incident_no_number", action=action))
        current = service.incident(number, msg.user_id)
        if current.withdrawn:
            raise ReportError(
                prompts.render("incident_withdrawn_already", number=number, action=action)
            )
        if action == "撤回":
            text = prompts.render("incident_withdraw_confirm", **fields(service, current))
            return Outcome([Reply(text, choices=CONFIRM)], Confirm(self, "撤回", number, None))
        if not rest:
            raise ReportError(prompts.render("incident_followup_usage", action=action,
                                             number=number, example=_EXAMPLES.get(
                                                 action, "较大 经过说明")))  # fmt: skip
        form = parse_incident_line(rest)
        form.level = form.level or current.level
        if action == "更正":
            for name in ("room", "occurred", "measures"):  # what is not restated is kept
                if not getattr(form, name):
                    setattr(form, name, getattr(current, name))
            view = _preview(current, form)
            text = prompts.render("incident_correct_confirm", **fields(service, view))
            return Outcome([Reply(text, choices=CONFIRM)], Confirm(self, "更正", number, form))
        thread = service.incident_thread(number)[0]
        if thread.withdrawn:
            raise ReportError(
                prompts.render("incident_withdrawn_already", number=thread.id, action=action)
            )
        if thread.status == "已处置":
            raise ReportError(prompts.render("incident_closed", number=thread.id, action=action))
        return Confirm(self, action, thread.id, form).ask(msg, stage=action)

    # ------------------------------------------------------------------ storing
    def store(self, msg: Message, action: str, number: int | None,
              form: IncidentForm | None) -> Outcome:  # fmt: skip
        """Store what was confirmed; escalations go out in the same transaction."""
        service, targets = self.service, self.notifier.coordinator_targets
        levels = {form.level} if form is not None else set()
        if number is not None:  # a follow-up or revision goes up when its thread ever did
            try:
                levels |= service.thread_levels(number)
            except ReportError as exc:
                return Outcome([Reply(str(exc))])
        escalate = bool(targets) and bool(levels & set(ESCALATED_LEVELS))

        def alerts(view: IncidentView) -> list[PendingNotice]:
            return alert_notices(service, view, targets, action) if escalate else []

        try:
            if action in ("更正", "撤回"):
                assert number is not None
                view, _ = service.revise_incident(msg.user_id, msg.user_name, number, form,
                                                  msg.delivery_key, alerts=alerts)  # fmt: skip
            else:
                assert form is not None
                stage = "首报" if action == "首报" else action
                view, _ = service.add_incident(
                    msg.user_id, msg.user_name, form, msg.delivery_key, alerts=alerts,
                    stage=stage, thread=None if stage == "首报" else number,
                )  # fmt: skip
        except ReportError as exc:
            return Outcome([Reply(str(exc))])
        return self.saved(view)

    def saved(self, view: IncidentView) -> Outcome:
        """The reply to a stored entry (also what a repeated delivery gets again)."""
        if view.withdrawn:
            return Outcome(
                [Reply(prompts.render("incident_withdrawn", **fields(self.service, view)))]
            )
        text = prompts.render("incident_saved", **fields(self.service, view))
        levels = self.service.thread_levels(view.id)
        if self.notifier.coordinator_targets and levels & set(ESCALATED_LEVELS):
            text += "\n" + prompts.load("incident_escalated")
        if self.service.zero_then_incident(view.day, only=view.site.code):
            text += "\n" + prompts.load("incident_zero_then")
            return Outcome([Reply(text, choices=[FILE_REPORT, LATER])])
        return Outcome([Reply(text)])

    def zero_then_intent(self, msg: Message, text: str) -> Outcome | None:
        """填写日报 / 稍后 under an incident stored after a 零报告: open the guided report, or
        a reminder. Not a dialogue, so whatever else the chief sends is handled as usual."""
        if text.strip() not in (FILE_REPORT, LATER):
            return None
        site = self.service.site_of(msg.user_id)
        if site is None or not self.service.zero_then_incident(self.service.today(), site.code):
            return None
        if text.strip() == LATER:
            return Outcome([Reply(prompts.load("incident_zero_later"))])
        result = self.report(msg, "")
        return result if isinstance(result, Outcome) else Outcome(result)

    # ------------------------------------------------------------------ 招生办
    def ack_intent(self, msg: Message, text: str, coordinators: set[int]) -> Outcome | None:
        """ "确认收到 #12" (the button under an escalation) from a coordinator."""
        m = _ACK.match(text.strip())
        if m is None or (msg.user_id not in coordinators and not msg.tapped):
            return None  # typed by someone else, "收到 3" is just chat
        return self.acknowledge(msg, int(m.group(1)), coordinators)

    def acknowledge(self, msg: Message, number: int, coordinators: set[int]) -> Outcome:
        """Acknowledge an incident thread; the reporter is told through the outbox."""
        if msg.user_id not in coordinators:
            return Outcome([Reply(prompts.load("coordinator_only"))])
        service = self.service
        try:
            view, first = service.acknowledge(number, msg.user_id, msg.user_name,
                                               receipt=lambda v: receipt_notices(service, v))  # fmt: skip
        except ReportError as exc:
            return Outcome([Reply(str(exc))])
        f = fields(service, view)
        if first:
            return Outcome([Reply(prompts.render("incident_ack_done", **f))])
        at = view.acknowledged_at
        when = at.astimezone(service.schedule.tz).strftime("%H:%M") if at else ""
        return Outcome([Reply(prompts.render("incident_ack_already", **{
            **f, "who": view.acknowledged_name or "招生办", "time": when}))])  # fmt: skip

    # ------------------------------------------------------------------ photos
    def photo_intent(self, msg: Message, text: str) -> Outcome | None:
        """A photo from a bound chief: kept with the incident (#N in the caption, else the
        site's latest incident today)."""
        if msg.attachment is None or self.service.site_of(msg.user_id) is None:
            return None
        m = _NUMBER.search(text) or re.fullmatch(r"\s*(\d{1,9})\s*", text)
        try:
            view = self.service.attach_photo(msg.user_id, msg.attachment.data,
                                             msg.attachment.mime, int(m.group(1)) if m else None)  # fmt: skip
        except ReportError as exc:
            return Outcome([Reply(str(exc))])
        f = fields(self.service, view)
        return Outcome([Reply(prompts.render("incident_photo_saved", n=len(view.photos), **f))])


def _preview(current: IncidentView, form: IncidentForm) -> IncidentView:
    from dataclasses import replace

    return replace(current, level=form.level, description=form.description, room=form.room,
                   occurred=form.occurred, measures=form.measures)  # fmt: skip


@dataclass
class Confirm:
    """The echo of an incident entry (or a withdrawal), stored only on 确认."""

    chat: IncidentChat
    action: str  # 首报 | 续报 | 终报 | 更正 | 撤回
    number: int | None
    form: IncidentForm | None

    def ask(self, msg: Message, stage: str = "首报") -> Outcome:
        """The echo with its 确认 / 取消 buttons."""
        assert self.form is not None
        service = self.chat.service
        targets = self.chat.notifier.coordinator_targets
        escalated = self.form.level in ESCALATED_LEVELS and bool(targets)
        preview = _form_view(service, msg.user_id, self.form, stage)
        text = prompts.render("incident_confirm", after="即报送招生办" if escalated else "登记",
                              **fields(service, preview))  # fmt: skip
        return Outcome([Reply(text, choices=CONFIRM)], self)

    def step(self, msg: Message, text: str) -> Outcome:
        """确认 stores, 取消 drops, anything else asks again."""
        if is_no(text):
            return Outcome([Reply(prompts.load("cancelled"))])
        if not is_yes(text):
            return Outcome([Reply(prompts.load("confirm_again"), choices=CONFIRM)], self)
        return self.chat.store(msg, self.action, self.number, self.form)


def _form_view(
    service: ReportService, user_id: int, form: IncidentForm, stage: str
) -> IncidentView:
    site = service.site_of(user_id) or SiteInfo("", "", "")
    return IncidentView(0, site, service.today(), form.level, form.description, form.room,
                        form.occurred, form.measures, "", service.now(), stage=stage)  # fmt: skip


_STEPS = ("level", "description", "room", "occurred", "measures")


@dataclass
class IncidentDialogue:
    """/incident step by step: what is missing is asked (the level with buttons); 重大 and
    特别重大 skip the optional questions; then the echo to confirm."""

    chat: IncidentChat
    msg: Message  # who started it (the echo shows their site)
    form: IncidentForm
    guided: bool = False
    why: str = ""
    asked: set[str] = field(default_factory=set)

    def _next(self) -> str | None:
        if not self.form.level:
            return "level"
        if not self.form.description:
            return "description"
        if self.guided and self.form.level not in ESCALATED_LEVELS:
            for name in ("room", "occurred", "measures"):
                if name not in self.asked:
                    return name
        return None

    def ask(self, prefix: str = "") -> Outcome:
        """The next question, or the echo to confirm when nothing is missing."""
        name = self._next()
        if name is None:
            return Confirm(self.chat, "首报", None, self.form).ask(self.msg)
        if name == "level":
            text = prompts.load("incident_ask_level") if not self.form.description else \
                prompts.render("incident_ask_level_for", why=self.why,
                               description=clip(self.form.description, 60))  # fmt: skip
            return Outcome([Reply(prefix + text, choices=list(LEVELS))], self)
        return Outcome([Reply(prefix + prompts.load(f"incident_ask_{name}"))], self)

    def step(self, msg: Message, text: str) -> Outcome:
        """Take one answer."""
        name = self._next()
        value = text.strip()
        if name == "level":
            try:
                self.form.level = parse_level(value)
            except FormError as exc:
                return Outcome([Reply(str(exc), choices=list(LEVELS))], self)
        elif name == "description":
            if len(value) < 2:
                return self.ask()
            if long := field_problem("description", value):
                return self.ask(long + "\n")
            self.form.description = value
        elif name is not None:
            if long := field_problem(name, value):
                return self.ask(long + "\n")
            self.asked.add(name)
            setattr(self.form, name, "" if value in SKIP else value)
        return self.ask()
