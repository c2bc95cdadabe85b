"""The incident form: one-line parsing of /incident and its follow-ups, forgiving of how Chinese
is typed (a level glued to its text or set off by a full-width comma, no level at all).

Every problem is a Chinese sentence that names the field and shows how to write it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.reports.forms import LEVELS, FormError, _pairs
from bot.reports.limits import clip, field_problem

_LEVEL_ALIASES = {
    "一般": "一般", "iv": "一般", "ⅳ": "一般", "4": "一般", "四级": "一般",
    "较大": "较大", "iii": "较大", "ⅲ": "较大", "3": "较大", "三级": "较大",
    "重大": "重大", "ii": "重大", "ⅱ": "重大", "2": "重大", "二级": "重大",
    "特别重大": "特别重大", "i": "特别重大", "ⅰ": "特别重大", "1": "特别重大", "一级": "特别重大",
}  # fmt: skip
_INCIDENT_KEYS = {
    "考场": "room", "考场号": "room", "时间": "occurred", "发生时间": "occurred",
    "措施": "measures", "处置": "measures", "处置措施": "measures", "已采取措施": "measures",
}  # fmt: skip
# Words of a level that can stand glued to the text after them ("重大考生携带手机"): the
# Chinese names only, longest first; numerals and Ⅰ–Ⅳ need 级 or a separator, since "3号考场"
# starts with a digit.
_GLUED = re.compile(r"^(特别重大|较大|重大|一般)(?:级|事件)?")
_SPELLED = re.compile(
    r"^([1-4]|i{1,3}|iv|[ⅰⅱⅲⅳ]|[一二三四]级)(?:级|事件)?(?=$|[\s,，、:：;；])", re.I
)
_LEAD_SEP = " \t,，、:：;；-—"
_ROOM = re.compile(r"(?<![\d])(\d{1,3})\s*号?考场")
# How a chief names what a line is about, before the text: 续报 #12 …, 更正 12 …, 撤回 #12.
ACTIONS = {"续报": "续报", "终报": "终报", "更正": "更正", "修改": "更正", "撤回": "撤回",
           "撤销": "撤回"}  # fmt: skip
_ACTION = re.compile(r"^(" + "|".join(ACTIONS) + r")\s*(?:#?\s*(\d{1,9}))?(?=$|[\s,，、:：;；]|\D)")


@dataclass
class IncidentForm:
    """A filled-in incident report (before it is stored)."""

    level: str = ""
    description: str = ""
    room: str = ""
    occurred: str = ""
    measures: str = ""


def parse_level(value: str) -> str:
    """An incident level from user text (一般/较大/重大/特别重大, also Ⅰ–Ⅳ级)."""
    key = value.strip().lower().removesuffix("级").removesuffix("事件") or value
    level = _LEVEL_ALIASES.get(key) or _LEVEL_ALIASES.get(value.strip().lower())
    if level is None:
        raise FormError([f"事件级别“{clip(value)}”不对，应为：{'、'.join(LEVELS)} 之一。"])
    return level


def split_level(text: str) -> tuple[str, str]:
    """(level, rest) when `text` starts with a level, glued or separated; ("", text) if not."""
    text = text.strip()
    m = _GLUED.match(text) or _SPELLED.match(text)
    if m is None:
        return "", text
    return _LEVEL_ALIASES[m.group(1).lower()], text[m.end() :].lstrip(_LEAD_SEP)


def split_action(text: str) -> tuple[str, int | None, str]:
    """("续报"/"终报"/"更正"/"撤回" or "", the incident number given, the rest of the text)."""
    m = _ACTION.match(text.strip())
    if m is None:
        return "", None, text.strip()
    number = int(m.group(2)) if m.group(2) else None
    return ACTIONS[m.group(1)], number, text.strip()[m.end() :].lstrip(_LEAD_SEP)


def parse_incident_line(text: str, need_level: bool = True) -> IncidentForm:
    """Parse "重大，描述…… 考场=03 时间=10:20 措施=已报告"; the level may be missing (then the
    form's level is empty and the caller asks for it). A description is required."""
    lead, pairs = _pairs(text, tuple(_INCIDENT_KEYS))
    level, description = split_level(lead)
    form = IncidentForm(level=level, description=description.strip())
    if not form.description:
        raise FormError(["请写明事件经过，例如：/incident 一般 3号考场考生携带手机，已收缴"])
    for key, value in pairs:
        setattr(form, _INCIDENT_KEYS[key], value)
    if not form.room and (room := _ROOM.search(form.description)):
        form.room = room.group(1)  # "3号考场…" already says where
    problems = incident_problems(form)
    if problems:
        raise FormError(problems)
    return form


INCIDENT_TEXT_FIELDS = ("description", "room", "occurred", "measures")


def incident_problems(form: IncidentForm) -> list[str]:
    """Every field of an incident that is over its length limit, as Chinese messages."""
    return [m for name in INCIDENT_TEXT_FIELDS if (m := field_problem(name, getattr(form, name)))]
