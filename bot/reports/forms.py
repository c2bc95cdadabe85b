"""The daily report and incident forms: fields, one-line parsing and validation.

Every problem is reported as a Chinese sentence that names the field and shows how to write it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from bot.reports.limits import clip, field_problem


class FormError(ValueError):
    """Input that does not fit the form; `problems` lists every issue found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Field:
    """One field of the daily report."""

    name: str
    label: str
    kind: Literal["count", "text"]
    aliases: tuple[str, ...]
    example: str
    required: bool = True


REPORT_FIELDS: tuple[Field, ...] = (
    Field("expected", "应考人数", "count", ("应考", "应考人数", "应到"), "300"),
    Field("present", "实考人数", "count", ("实考", "实考人数", "实到", "参考"), "298"),
    Field("absent", "缺考人数", "count", ("缺考", "缺考人数"), "2"),
    Field(
        "violations",
        "违纪/作弊人数",
        "count",
        ("违纪", "作弊", "违纪作弊", "违纪/作弊", "违纪作弊人数", "违纪/作弊人数", "违规"),
        "0",
    ),
    Field(
        "duty",
        "保密室值班情况",
        "text",
        ("保密室", "保密室值班", "保密室值班情况", "值班"),
        "双人值守，交接正常",
    ),
    Field(
        "equipment",
        "设备情况（监控、屏蔽）",
        "text",
        ("设备", "设备情况", "监控", "屏蔽", "监控屏蔽"),
        "监控、屏蔽运行正常",
    ),
    Field("remarks", "备注", "text", ("备注", "说明", "其他"), "无", required=False),
)
FIELD_BY_ALIAS = {alias: f for f in REPORT_FIELDS for alias in (f.name, *f.aliases)}

LEVELS = ("一般", "较大", "重大", "特别重大")
ESCALATED_LEVELS = ("重大", "特别重大")

_SEP = r"\s*[=＝:：]\s*"


@cache
def _key_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(sorted(map(re.escape, keys), key=len, reverse=True))
    return re.compile(r"(?:^|[\s,，;；、])(" + alternatives + ")" + _SEP)


def _pairs(text: str, keys: tuple[str, ...]) -> tuple[str, list[tuple[str, str]]]:
    """Split "前文 键=值 键=值" into the leading text and (key, value) pairs.

    Values run until the next known key, so they may contain spaces and commas.
    """
    matches = list(_key_pattern(keys).finditer(text))
    lead = text[: matches[0].start()] if matches else text
    out = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        out.append((m.group(1), text[m.end() : end].strip(" \t,，;；、")))
    return lead.strip(), out


def parse_count(label: str, value: str, example: str) -> int:
    """A whole number >= 0, or FormError naming the field."""
    v = value.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    v = v.removesuffix("人").removesuffix("名").strip()
    if not re.fullmatch(r"\d{1,7}", v):
        raise FormError(
            [f"「{label}」应为不小于 0 的整数，你填的是“{clip(value)}”。例如：{example}"]
        )
    return int(v)


@dataclass
class ReportForm:
    """A filled-in daily report (before it is stored)."""

    values: dict[str, int | str] = field(default_factory=dict)

    def get_count(self, name: str) -> int | None:
        """A count field, or None if not filled."""
        v = self.values.get(name)
        return v if isinstance(v, int) else None

    def set(self, f: Field, raw: str) -> None:
        """Fill one field from user text (validated)."""
        raw = raw.strip()
        if f.kind == "count":
            self.values[f.name] = parse_count(f.label, raw, f"{f.aliases[0]}={f.example}")
        else:
            if f.required and raw in ("", "无", "-") and f.name != "remarks":
                raise FormError(
                    [f"「{f.label}」不能为空，请写明情况。例如：{f.aliases[0]}={f.example}"]
                )
            long = field_problem(f.name, raw)
            if long:
                raise FormError([long])
            self.values[f.name] = "" if raw in ("无", "-") and not f.required else raw

    def problems(self, already_reported: frozenset[str] = frozenset()) -> list[str]:
        """Everything still wrong with the form as a whole (fields in `already_reported` had
        their own message and are not listed again as missing)."""
        out = []
        for f in REPORT_FIELDS:
            if f.required and f.name not in self.values and f.name not in already_reported:
                out.append(f"缺少「{f.label}」。请补上，例如：{f.aliases[0]}={f.example}")
        exp, pre, abs_ = (self.get_count(n) for n in ("expected", "present", "absent"))
        if exp is not None and pre is not None and abs_ is not None and pre + abs_ != exp:
            out.append(
                f"实考（{pre}）+ 缺考（{abs_}）= {pre + abs_}，与应考（{exp}）不符。请核对这三个数。"
            )
        vio = self.get_count("violations")
        if vio is not None and pre is not None and vio > pre:
            out.append(f"「违纪/作弊人数」（{vio}）不能大于实考人数（{pre}）。")
        for f in REPORT_FIELDS:
            value = self.values.get(f.name)
            if (
                f.kind == "text"
                and isinstance(value, str)
                and (long := field_problem(f.name, value))
            ):
                out.append(long)
        return out

    def summary(self) -> str:
        """The form as readable lines."""
        lines = []
        for f in REPORT_FIELDS:
            v = self.values.get(f.name, "")
            lines.append(f"{f.label}：{v if v != '' else '无'}")
        return "\n".join(lines)


def parse_report_line(text: str) -> ReportForm:
    """Parse "应考=300 实考=298 缺考=2 违纪=0 保密室=正常 设备=正常 备注=无"."""
    lead, pairs = _pairs(text, tuple(FIELD_BY_ALIAS))
    problems: list[str] = []
    if lead:
        problems.append(
            f"看不懂“{clip(lead, 20)}”。每一项请写成 名称=值，例如：应考=300 实考=298 缺考=2 "
            "违纪=0 保密室=正常 设备=正常 备注=无"
        )
    form = ReportForm()
    failed: set[str] = set()
    for key, value in pairs:
        f = FIELD_BY_ALIAS[key]
        try:
            form.set(f, value)
        except FormError as exc:
            failed.add(f.name)
            problems += exc.problems
    problems += form.problems(frozenset(failed))
    if problems:
        raise FormError(problems)
    return form
