"""Coordinator views as chat messages: /status, /summary, /stats, split for Telegram.

Missing sites come first, grouped by 区县, each saying whether a chief is bound (a reminder can
reach them) with a one-tap reminder; reported sites are counts, late ones named. Figures always
say which reports they come from.
"""

from __future__ import annotations

from itertools import groupby

import prompts
from bot.messages import Reply
from bot.reports.forms import LEVELS
from bot.reports.overview import Stats
from bot.reports.views import DayStatus, DaySummary, SiteInfo, cn_day

TELEGRAM_LIMIT = 4096
MAX_BUTTONS = 8  # one row of inline buttons


def split_messages(blocks: list[str], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Blocks of lines packed into messages of at most `limit` characters, cut between lines
    (a block too long on its own is cut between its lines; a line too long, inside it)."""
    lines: list[str] = []
    for block in blocks:
        for line in block.split("\n"):
            while len(line) > limit:
                lines.append(line[:limit])
                line = line[limit:]
            lines.append(line)
        lines.append("\x00")  # block boundary: prefer to cut here
    out: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if line == "\x00":
            continue
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            out.append("\n".join(current))
            current, size = [], 0
            extra = len(line)
        current.append(line)
        size += extra
    if current:
        out.append("\n".join(current))
    return out


def _names(sites: list[SiteInfo]) -> str:
    return "、".join(f"{s.code} {s.name}" for s in sites)


def session_label(session: str) -> str:
    """ " 上午场" for a session, "" for the whole day."""
    return f" {session}场" if session else ""


def status_replies(st: DayStatus) -> list[Reply]:
    """/status as messages Telegram accepts, with a reminder button per missing bound site."""
    head = prompts.render(
        "status_head",
        day=cn_day(st.day),
        session=session_label(st.session),
        deadline=st.deadline.strftime("%H:%M"),
        scope=st.scope,
        n_missing=len(st.missing),
        n_reported=len(st.reported) + len(st.late),
        n_on_time=len(st.reported),
        n_late=len(st.late),
    )
    blocks = [head]
    buttons: list[list[str]] = [[]]
    missing = sorted(st.missing, key=lambda s: (s.district or "~", s.code))
    for district, group in groupby(missing, key=lambda s: s.district):
        sites = list(group)
        lines = [prompts.render("status_group", district=district or "未填区县", n=len(sites))]
        for s in sites:
            bound = s.code in st.bound
            lines.append(prompts.render("status_missing_line", code=s.code, site=s.name,
                                        bound="已绑定" if bound else "未绑定，提醒发不到"))  # fmt: skip
        blocks.append("\n".join(lines))
    if st.late:
        blocks.append(prompts.render("status_late", n=len(st.late), late=_names(st.late)))
    if st.zero_then_incident:
        flagged = [s for s in st.reported + st.late if s.code in st.zero_then_incident]
        blocks.append(prompts.render("status_zero_then_incident", sites=_names(flagged)))
    incidents = "、".join(
        f"{st.names.get(code, code)} {n} 起" for code, n in sorted(st.incidents.items())
    )
    blocks.append(prompts.render("status_incidents", incidents=incidents or "无"))
    texts = split_messages(blocks)
    remindable = [f"/remind {s.code}" for s in missing if s.code in st.bound]
    if len(remindable) > MAX_BUTTONS:
        remindable = [*remindable[: MAX_BUTTONS - 1], "/remind"]
    buttons = [[] for _ in texts]
    buttons[-1] = remindable
    return [Reply(t, choices=b) for t, b in zip(texts, buttons, strict=True)]


def summary_text(s: DaySummary) -> str:
    """/summary: counts by kind, and totals that say which reports they come from."""
    levels = "，".join(f"{level} {s.incidents.get(level, 0)}" for level in LEVELS)
    carrying = s.full + s.zero_with_figures
    if carrying:
        source = f"日报 {s.full} 份" + (
            f"、带人数的零报告 {s.zero_with_figures} 份" if s.zero_with_figures else ""
        )
        figures = prompts.render("summary_figures", source=source, expected=s.expected,
                                 present=s.present, absent=s.absent,
                                 violations=s.violations)  # fmt: skip
    else:
        figures = prompts.load("summary_no_figures")
    return prompts.render(
        "summary",
        day=cn_day(s.day),
        session=session_label(s.session),
        scope=s.scope,
        sites=s.sites,
        reported=s.reported + s.late,
        on_time=s.reported,
        late=s.late,
        missing=s.missing,
        full=s.full,
        zero=s.zero,
        zero_figures=s.zero_with_figures,
        figures=figures,
        zero_then_incident=s.zero_then_incident,
        levels=levels,
    )


def stats_replies(st: Stats, top: int = 20) -> list[Reply]:
    """/stats: late rate per site (worst first) and incidents by level and day."""
    span = cn_day(st.start) if st.start == st.end else f"{cn_day(st.start)}至{cn_day(st.end)}"
    lines = [prompts.render("stats_head", span=span, scope=st.scope, sites=len(st.sites))]
    shown = [x for x in st.sites if x.late or x.missing][:top]
    for x in shown:
        lines.append(prompts.render("stats_site_line", code=x.site.code, site=x.site.name,
                                    due=x.due, late=x.late, missing=x.missing,
                                    rate=f"{x.late_rate:.0%}", incidents=x.incidents))  # fmt: skip
    if not shown:
        lines.append(prompts.load("stats_all_on_time"))
    levels = "，".join(f"{level} {st.by_level.get(level, 0)}" for level in LEVELS)
    lines.append(prompts.render("stats_incidents", levels=levels))
    for day, counts in sorted(st.by_day.items()):
        per = "，".join(f"{level} {counts[level]}" for level in LEVELS if counts.get(level))
        lines.append(f"  {cn_day(day)}：{per}")
    return [Reply(t) for t in split_messages(["\n".join(lines)])]
