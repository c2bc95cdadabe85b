"""Property-based: whatever a site chief types after /report or /incident, kaowu either stores
exactly what it showed for confirmation, or stores nothing and says why in Chinese — on SQLite
and PostgreSQL alike (the same limits, no database error reaching the user)."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.messages import normalise
from bot.reports.forms import FIELD_BY_ALIAS, FormError, parse_report_line
from bot.reports.incident_forms import IncidentForm, parse_incident_line
from tests.bot.reports.harness import Harness

CHIEF = 101
CHINESE = re.compile(r"[\u4e00-\u9fff]")
PROPS = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip

_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
) | st.sampled_from(["无", "-", "", " ", "正常", "双人值守", "x" * 600, "备" * 2_100])
_count = st.integers(-5, 10**8).map(str) | st.sampled_from(["３００", "300人", "1.5", "", "abc"])
_pair = st.tuples(st.sampled_from(sorted(FIELD_BY_ALIAS)), _count | _text)
_sep = st.sampled_from([" ", "，", "  ", "\n", "；"])


@st.composite
def report_lines(draw: st.DrawFn) -> str:
    """Mostly well-formed "名称=值" lines with mistakes mixed in, sometimes junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(_text)
    expected = draw(st.integers(0, 5000))
    absent = draw(st.integers(0, expected))
    pairs = [("应考", str(expected)), ("实考", str(expected - absent)), ("缺考", str(absent)),
             ("违纪", str(draw(st.integers(0, 3)))), ("保密室", "双人值守"), ("设备", "正常")]  # fmt: skip
    pairs += draw(st.lists(_pair, max_size=3))
    pairs = draw(st.permutations(pairs))
    sep = draw(_sep)
    return sep.join(f"{k}{draw(st.sampled_from(['=', '：', '＝']))}{v}" for k, v in pairs)


def _stored(h: Harness) -> int:
    assert h.services.reports is not None
    return len(h.services.reports.versions(CHIEF))


@PROPS
@given(line=report_lines())
def test_report_line_stores_what_was_confirmed_or_nothing(h: Harness, line: str) -> None:
    if not h.services.reports.site_of(CHIEF):  # type: ignore[union-attr]
        h.bind(CHIEF)
    before = _stored(h)
    shown = h.text(CHIEF, f"/report {line}")
    try:  # the core reads full-width letters, digits and spaces as their ASCII twins
        expected = parse_report_line(normalise(f"/report {line}")[len("/report ") :])
    except FormError:
        expected = None
    if expected is None or "请核对" not in shown:
        assert expected is None, shown
        assert CHINESE.search(shown) and "Error" not in shown
        h.text(CHIEF, "/cancel")
        assert _stored(h) == before
        return
    saved = h.text(CHIEF, "确认")
    assert "已保存" in saved
    assert _stored(h) == before + 1
    latest = h.services.reports.versions(CHIEF)[0]  # type: ignore[union-attr]
    for name, value in expected.values.items():
        assert latest.values[name] == value  # exactly what was shown, nothing cut


_levels = st.sampled_from(["一般", "较大", "重大", "特别重大", "Ⅱ级", "严重", "", "1"])


@st.composite
def incident_lines(draw: st.DrawFn) -> str:
    """A level, a description and optional 考场/时间/措施, any of them odd or too long."""
    parts = [draw(_levels), draw(_text | st.just("经" * 2_500))]
    for key in draw(st.lists(st.sampled_from(["考场", "时间", "措施"]), max_size=3)):
        parts.append(f"{key}={draw(_text | st.just('场' * 40))}")
    return " ".join(parts)


@PROPS
@given(line=incident_lines())
def test_incident_line_stores_what_was_given_or_nothing(h: Harness, line: str) -> None:
    if not h.services.reports.site_of(CHIEF):  # type: ignore[union-attr]
        h.bind(CHIEF)
    service = h.services.reports
    assert service is not None
    before = len(service.incidents(service.today()))
    out = h.text(CHIEF, f"/incident {line}")
    try:
        expected: IncidentForm | None = parse_incident_line(normalise(f"/incident {line}")[10:])
    except FormError:
        expected = None
    if expected is None or not expected.level:  # refused, or the level is asked for
        h.text(CHIEF, "/cancel")
        after = service.incidents(service.today())
        assert len(after) == before and CHINESE.search(out) and "Error" not in out
        return
    assert "请核对" in out and len(service.incidents(service.today())) == before
    out = h.text(CHIEF, "确认")
    after = service.incidents(service.today())
    assert "已记录事件" in out and len(after) == before + 1
    stored = max(after, key=lambda i: i.id)
    assert (stored.level, stored.description, stored.room, stored.occurred, stored.measures) == (
        expected.level, expected.description.strip(), expected.room.strip(),
        expected.occurred.strip(), expected.measures.strip(),
    )  # fmt: skip
