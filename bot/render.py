"""Plain-text rendering of answers (console, logs, `kaowu ask`)."""

from __future__ import annotations

import prompts
from bot.qa import Answer, Citation


def source_line(c: Citation) -> str:
    """ "[n] 标题 · 章节" for one citation."""
    where = f"{c.title} · {c.section}" if c.section else c.title
    return f"[{c.n}] {where}（{c.source}）"


def answer_plain(answer: Answer) -> str:
    """The answer with [n] markers, then the numbered sources with their quoted sentences."""
    if not answer.answered:
        return answer.answer
    lines = [answer.answer, "", prompts.load("answer_sources_heading")]
    for c in answer.citations:
        lines.append(source_line(c))
        lines.append(f"    “{c.quote}”")
    return "\n".join(lines)
