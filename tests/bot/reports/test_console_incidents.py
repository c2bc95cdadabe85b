"""A scripted `kaowu chat` session (the console front end over the real core) on SQLite and
PostgreSQL: buttons are shown as choices and typed back."""

from __future__ import annotations

import io

from bot.console import run_console
from tests.bot.reports.harness import Harness

CHIEF = 101


def test_console_session_incident_with_level_asked_and_zero_in_words(h: Harness) -> None:
    script = "\n".join([
        "/bind 001 AAA111",
        "/incident 3号考场考生携带手机",  # no level: asked with choices
        "较大",
        "好的",
        "/incident 续报 #1 已收缴并记录",
        "ok",
        "今天一切正常",  # a zero report in words, refused after an incident
        "确认",
    ]) + "\n"  # fmt: skip
    out = io.StringIO()
    run_console(h.core, CHIEF, CHIEF, "张老师", stdin=io.StringIO(script), stdout=out)
    text = out.getvalue()
    assert "可选：一般 / 较大 / 重大 / 特别重大" in text
    assert "已记录事件 #1（首报" in text and "已记录事件 #2（续报" in text
    assert "可选：确认 / 取消" in text
    assert "不能再报零报告" in text
    assert h.services.reports is not None
    thread = h.services.reports.incident_thread(1)
    assert [(e.stage, e.level, e.room) for e in thread] == [
        ("首报", "较大", "3"),
        ("续报", "较大", ""),
    ]
