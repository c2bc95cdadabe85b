"""The report template: which fields a 日报 has, how each is written, and the checks across them.

The built-in default is the report kaowu always had. `REPORT_TEMPLATE_FILE` may name a JSON or
TOML file (stdlib parsers, no new dependency) of the same shape (see docs/report_template.json):

    {"fields": [{"name": "expected", "label": "应考人数", "type": "count", "required": true,
                 "aliases": ["应考"], "example": "300"}, ...],
     "checks": ["实考 + 缺考 = 应考", "违纪 <= 实考"],
     "zero_fields": ["expected", "present", "absent"]}

`zero_fields` are the figures a 零报告 must carry (none by default).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# Columns of the reports table that hold these field names (older rows have only these).
LEGACY_COLUMNS = ("expected", "present", "absent", "violations", "duty", "equipment", "remarks")


class TemplateError(ValueError):
    """A template file that cannot be used; the message (Chinese) says where and why."""


@dataclass(frozen=True)
class Field:
    """One field of the daily report."""

    name: str
    label: str
    kind: Literal["count", "text"]
    aliases: tuple[str, ...]
    example: str
    required: bool = True


@dataclass(frozen=True)
class Check:
    """A rule across count fields: sum(terms) == target, or sum(terms) <= target."""

    terms: tuple[str, ...]
    op: Literal["=", "<="]
    target: str
    text: str  # as written in the template, for messages

    def problem(self, values: dict[str, Any], fields: dict[str, Field]) -> str | None:
        """The Chinese message when the filled values break this rule, else None."""
        nums = [values.get(t) for t in (*self.terms, self.target)]
        if not all(isinstance(n, int) for n in nums):
            return None
        total, target = sum(nums[:-1]), nums[-1]  # type: ignore[arg-type]

        def short(name: str) -> str:
            f = fields[name]
            return f.aliases[0] if f.aliases else f.label

        if self.op == "=" and total != target:
            parts = "+ ".join(f"{short(t)}（{values[t]}）" for t in self.terms)
            return f"{parts}= {total}，与{short(self.target)}（{target}）不符。请核对这几个数。"
        if self.op == "<=" and total > target:  # type: ignore[operator]
            parts = "+".join(f"「{fields[t].label}」" for t in self.terms)
            return f"{parts}（{total}）不能大于{fields[self.target].label}（{target}）。"
        return None


@dataclass(frozen=True)
class ReportTemplate:
    """The fields of a 日报, the checks across them and what a 零报告 must carry."""

    fields: tuple[Field, ...]
    checks: tuple[Check, ...] = ()
    zero_fields: tuple[str, ...] = ()

    @property
    def by_alias(self) -> dict[str, Field]:
        """Every name and alias -> its field."""
        return {alias: f for f in self.fields for alias in (f.name, f.label, *f.aliases)}

    def field(self, name: str) -> Field:
        """The field called `name`."""
        return next(f for f in self.fields if f.name == name)

    def short(self, f: Field) -> str:
        """The shortest way to write a field's name in a one-line report."""
        return f.aliases[0] if f.aliases else f.label

    def example_line(self, names: tuple[str, ...] | None = None) -> str:
        """A one-line report written out, e.g. "应考300 实考298 缺考2"."""
        chosen = [f for f in self.fields if names is None or f.name in names]
        return " ".join(f"{self.short(f)}{f.example}" for f in chosen if f.required or names)


def _f(name: str, label: str, kind: Literal["count", "text"], aliases: tuple[str, ...],
       example: str, required: bool = True) -> Field:  # fmt: skip
    return Field(name, label, kind, aliases, example, required)


DEFAULT_FIELDS: tuple[Field, ...] = (
    _f("expected", "应考人数", "count", ("应考", "应考人数", "应到"), "300"),
    _f("present", "实考人数", "count", ("实考", "实考人数", "实到", "参考"), "298"),
    _f("absent", "缺考人数", "count", ("缺考", "缺考人数"), "2"),
    _f("violations", "违纪/作弊人数", "count",
       ("违纪", "作弊", "违纪作弊", "违纪/作弊", "违纪作弊人数", "违纪/作弊人数", "违规"), "0"),
    _f("duty", "保密室值班情况", "text", ("保密室", "保密室值班", "保密室值班情况", "值班"),
       "双人值守"),
    _f("equipment", "设备情况（监控、屏蔽）", "text",
       ("设备", "设备情况", "监控", "屏蔽", "监控屏蔽"), "运行正常"),
    _f("remarks", "备注", "text", ("备注", "说明", "其他"), "无", required=False),
)  # fmt: skip


def _check(text: str, fields: tuple[Field, ...], where: str) -> Check:
    names = {alias: f.name for f in fields for alias in (f.name, f.label, *f.aliases)}
    m = re.fullmatch(r"\s*(.+?)\s*(<=|≤|=)\s*(.+?)\s*", text)
    if not m:
        raise TemplateError(f"{where}“{text}”看不懂，应写成 实考 + 缺考 = 应考 或 违纪 <= 实考")
    terms = [t.strip() for t in m.group(1).split("+")]
    unknown = [t for t in (*terms, m.group(3)) if t not in names]
    if unknown:
        raise TemplateError(f"{where}“{text}”中的“{'、'.join(unknown)}”不是模板里的字段")
    used = [names[t] for t in (*terms, m.group(3))]
    if any(next(f for f in fields if f.name == n).kind != "count" for n in used):
        raise TemplateError(f"{where}“{text}”只能用人数（count）字段")
    op: Literal["=", "<="] = "=" if m.group(2) == "=" else "<="
    return Check(tuple(names[t] for t in terms), op, names[m.group(3)], text.strip())


DEFAULT_TEMPLATE = ReportTemplate(
    DEFAULT_FIELDS,
    (
        _check("实考 + 缺考 = 应考", DEFAULT_FIELDS, ""),
        _check("违纪 <= 实考", DEFAULT_FIELDS, ""),
    ),
)


def parse_template(data: Any, source: str = "模板") -> ReportTemplate:
    """A template from parsed JSON/TOML data; TemplateError naming what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("fields"), list) or not data["fields"]:
        raise TemplateError(f"{source}需要一个非空的 fields 列表")
    fields: list[Field] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["fields"], 1):
        where = f"{source}第 {i} 个字段"
        if not isinstance(raw, dict) or not raw.get("name") or not raw.get("label"):
            raise TemplateError(f"{where}需要 name 和 label")
        kind = raw.get("type", "text")
        if kind not in ("count", "text"):
            raise TemplateError(f"{where}的 type“{kind}”不对，应为 count（人数）或 text（文字）")
        name = str(raw["name"])
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", name):
            raise TemplateError(f"{where}的 name“{name}”只能用英文字母、数字和下划线")
        aliases = tuple(str(a) for a in raw.get("aliases", []))
        for alias in {name, str(raw["label"]), *aliases}:
            if alias in seen:
                raise TemplateError(f"{where}的名称“{alias}”与前面的字段重复")
            seen.add(alias)
        example = str(raw.get("example", "300" if kind == "count" else "正常"))
        fields.append(Field(name, str(raw["label"]), kind, aliases, example,
                            bool(raw.get("required", True))))  # fmt: skip
    checks = tuple(
        _check(str(c), tuple(fields), f"{source}的检查规则") for c in data.get("checks", [])
    )
    zero = tuple(str(z) for z in data.get("zero_fields", []))
    known = {f.name for f in fields}
    if bad := [z for z in zero if z not in known]:
        raise TemplateError(f"{source}的 zero_fields 中“{'、'.join(bad)}”不是模板里的字段")
    return ReportTemplate(tuple(fields), checks, zero)


def load_template(path: Path | None) -> ReportTemplate:
    """The template from a JSON or TOML file, or the built-in default when `path` is None."""
    if path is None:
        return DEFAULT_TEMPLATE
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise TemplateError(f"无法读取日报模板文件 {path}：{exc.strerror or exc}") from exc
    source = f"日报模板 {Path(path).name} "
    try:
        text = raw.decode("utf-8-sig")
        data = tomllib.loads(text) if Path(path).suffix.lower() == ".toml" else json.loads(text)
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{source}不是 UTF-8 文本") from exc
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{source}不是合法的 JSON（第 {exc.lineno} 行）：{exc.msg}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{source}不是合法的 TOML：{exc}") from exc
    return parse_template(data, source)
