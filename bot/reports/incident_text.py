"""How an incident is shown: its fields for the templates, the escalation and receipt notices."""

from __future__ import annotations

from typing import Protocol

import prompts
from bot.reports.notify import site_line
from bot.reports.outbox import PendingNotice
from bot.reports.schedule import Schedule
from bot.reports.views import IncidentView


class ReportService(Protocol):
    """What the texts need of the service: its schedule's time zone."""

    schedule: Schedule


ACK_WORD = "确认收到"


def fields(service: ReportService, inc: IncidentView) -> dict[str, str]:
    """Template fields of an incident entry."""
    tz = service.schedule.tz
    state = "；".join(x for x in (
        inc.status, f"{inc.acknowledged_name or '招生办'}已确认收到" if inc.acknowledged_at else "",
        f"照片 {len(inc.photos)} 张" if inc.photos else "",
    ) if x)  # fmt: skip
    return {
        "number": str(inc.id),
        "thread": str(inc.thread_id or inc.id),
        "stage": inc.stage,
        "version": str(inc.version),
        "status": inc.status,
        "state": f"［{state}］",
        "site": site_line(inc.site),
        "level": inc.level,
        "description": inc.description,
        "room": inc.room or "未填",
        "occurred": inc.occurred or "未填",
        "measures": inc.measures or "未填",
        "reporter": inc.reported_name or "未知",
        "time": inc.reported_at.astimezone(tz).strftime("%H:%M"),
    }


def ack_choice(inc: IncidentView) -> str:
    """The button under an escalation; its text, sent back on a tap, acknowledges the thread."""
    return f"{ACK_WORD} #{inc.thread_id or inc.id}"


def alert_notices(
    service: ReportService, inc: IncidentView, targets: list[int], action: str = ""
) -> list[PendingNotice]:
    """The escalation of an entry to each coordinator target: a first report with the
    确认收到 button; a follow-up, correction or withdrawal as an update of its thread."""
    f = fields(service, inc)
    if inc.stage == "首报" and inc.version == 1:
        text = prompts.render("incident_alert", **f)
        choices: tuple[str, ...] = (ack_choice(inc),)
    else:
        text, choices = prompts.render("incident_alert_update", action=action, **f), ()
    return [PendingNotice("escalation", f"escalation:{inc.row_id or inc.id}:{t}", t, text, choices)
            for t in targets]  # fmt: skip


def receipt_notices(service: ReportService, inc: IncidentView) -> list[PendingNotice]:
    """The reporter's notice that 招生办 received the incident (their private chat)."""
    at = inc.acknowledged_at
    text = prompts.render(
        "incident_receipt", **{**fields(service, inc), "who": inc.acknowledged_name or "招生办",
                               "time": at.astimezone(service.schedule.tz).strftime("%H:%M")
                               if at else ""},
    )  # fmt: skip
    return [PendingNotice("receipt", f"receipt:{inc.thread_id or inc.id}", inc.reported_by, text)]
