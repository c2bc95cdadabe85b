"""The daily report and incident forms: fields, one-line parsing and validation.

Every problem is reported as a Chinese sentence that names the field and shows how to write it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

from bot.reports.limits import LIMITS, clip, field_problem
from bot.reports.template import DEFAULT_TEMPLATE, Field, ReportTemplate


class FormError(ValueError):
    """Input that does not fit the form; `problems` lists every issue found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


REPORT_FIELDS: tuple[Field, ...] = DEFAULT_TEMPLATE.fields
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


def normalise(text: str) -> str:
    """Full-width digits, letters, punctuation and spaces (U+3000 too) as their plain forms."""
    return unicodedata.normalize("NFKC", text)


def parse_count(label: str, value: str, example: str) -> int:
    """A whole number >= 0, or FormError naming the field."""
    v = normalise(value).strip().removesuffix("人").removesuffix("名").strip()
    if not re.fullmatch(r"\d{1,7}", v):
        raise FormError(
            [f"「{label}」应为不小于 0 的整数，你填的是“{clip(value)}”。例如：{example}"]
        )
    return int(v)


def _text_problem(f: Field, value: str) -> str | None:
    if f.name in LIMITS:
        return field_problem(f.name, value)
    # Template fields of an office's own have the length of 备注.
    problem = field_problem("remarks", value)
    return problem.replace(LIMITS["remarks"].label, f.label) if problem else None


@dataclass
class ReportForm:
    """A filled-in daily report (before it is stored)."""

    values: dict[str, int | str] = field(default_factory=dict)
    template: ReportTemplate = DEFAULT_TEMPLATE

    def get_count(self, name: str) -> int | None:
        """A count field, or None if not filled."""
        v = self.values.get(name)
        return v if isinstance(v, int) else None

    def set(self, f: Field, raw: str) -> None:
        """Fill one field from user text (validated)."""
        raw = normalise(raw).strip()
        example = f"{self.template.short(f)}{f.example}"
        if f.kind == "count":
            self.values[f.name] = parse_count(f.label, raw, example)
        else:
            if f.required and raw in ("", "无", "-"):
                raise FormError([f"「{f.label}」不能为空，请写明情况。例如：{example}"])
            long = _text_problem(f, raw)
            if long:
                raise FormError([long])
            self.values[f.name] = "" if raw in ("无", "-") and not f.required else raw

    def missing(self, skip: frozenset[str] = frozenset()) -> list[Field]:
        """Required fields not filled yet (in template order)."""
        return [f for f in self.template.fields
                if f.required and f.name not in self.values and f.name not in skip]  # fmt: skip

    def check_problems(self) -> list[tuple[str, str]]:
        """(message, field to ask again) for every rule across fields that is broken."""
        fields = {f.name: f for f in self.template.fields}
        out = []
        for check in self.template.checks:
            problem = check.problem(self.values, fields)
            if problem:
                # Ask again for the field of the rule that comes last (the one just typed when
                # the report is filled in step by step).
                order = [f.name for f in self.template.fields]
                last = max((*check.terms, check.target), key=order.index)
                out.append((problem, last))
        return out

    def problems(self, already_reported: frozenset[str] = frozenset()) -> list[str]:
        """Everything still wrong with the form as a whole (fields in `already_reported` had
        their own message and are not listed again as missing)."""
        out = []
        missing = self.missing(already_reported)
        if missing:
            names = "、".join(f.label for f in missing)
            example = " ".join(f"{self.template.short(f)}{f.example}" for f in missing)
            out.append(f"还缺：{names}。请补上，例如：{example}")
        out += [p for p, _ in self.check_problems()]
        for f in self.template.fields:
            value = self.values.get(f.name)
            if f.kind == "text" and isinstance(value, str) and (long := _text_problem(f, value)):
                out.append(long)
        return out

    def summary(self) -> str:
        """The form as readable lines."""
        lines = []
        for f in self.template.fields:
            v = self.values.get(f.name, "")
            lines.append(f"{f.label}：{v if v != '' else '无'}")
        return "\n".join(lines)


def _line_pattern(aliases: tuple[str, ...]) -> re.Pattern[str]:
    known = "|".join(sorted(map(re.escape, aliases), key=len, reverse=True))
    # A known name may be followed by "=", ":", a space or the value itself (应考300); any other
    # word followed by "=" or ":" is an unknown field, pointed out rather than read as a value.
    return re.compile(
        r"(?:^|(?<=[\s,;、]))(?:(?P<known>" + known + r")(?:\s*[=:]\s*|\s*)"
        r"|(?P<unknown>[^\s=:,;、\d][^\s=:,;、]{0,11})\s*[=:])"
    )


_PATTERNS: dict[tuple[str, ...], re.Pattern[str]] = {}


def read_report_line(
    text: str, template: ReportTemplate = DEFAULT_TEMPLATE
) -> tuple[ReportForm, list[str]]:
    """The fields a one-line report fills, and every problem except fields still missing.

    "应考=300 实考=298", "应考300，实考298" and full-width forms all read the same.
    """
    text = normalise(text).strip()
    by_alias = template.by_alias
    key = tuple(by_alias)
    pattern = _PATTERNS.get(key) or _PATTERNS.setdefault(key, _line_pattern(key))
    matches = list(pattern.finditer(text))
    problems: list[str] = []
    lead = (text[: matches[0].start()] if matches else text).strip(" ,;、")
    if lead:
        problems.append(
            f"看不懂“{clip(lead, 20)}”。请写成 名称+数值，例如：{template.example_line()}"
        )
    form = ReportForm(template=template)
    seen: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[m.end() : end].strip(" \t,;、")
        if m.group("unknown"):
            names = "、".join(template.short(f) for f in template.fields)
            problems.append(f"“{clip(m.group('unknown'), 12)}”不是日报里的项目（可写：{names}）。")
            continue
        f = by_alias[m.group("known")]
        if f.name in seen:
            problems.append(f"「{f.label}」写了两次（{clip(seen[f.name], 12)} 和 "
                            f"{clip(value, 12)}），请只写一次。")  # fmt: skip
            continue
        seen[f.name] = value
        try:
            form.set(f, value)
        except FormError as exc:
            problems += exc.problems
    return form, problems


def parse_report_line(text: str, template: ReportTemplate = DEFAULT_TEMPLATE) -> ReportForm:
    """Parse "应考=300 实考=298 缺考=2 违纪=0 保密室=正常 设备=正常 备注=无" (or 应考300 …)."""
    form, problems = read_report_line(text, template)
    failed = frozenset(f.name for f in template.fields if f.name not in form.values)
    problems += form.problems(failed if problems else frozenset())
    if problems:
        raise FormError(problems)
    return form
