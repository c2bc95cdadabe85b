"""Plain-text rendering of answers (console, logs, `kaowu ask`)."""

from __future__ import annotations

import prompts
from bot.qa import Answer, Citation


def where(c: Citation) -> str:
    """ "标题 · 章节" of a citation."""
    return f"{c.title} · {c.section}" if c.section else c.title


def source_line(c: Citation) -> str:
    """ "[n] 标题 · 章节（文件）" for one citation."""
    return f"[{c.n}] {where(c)}（{c.source}）"


def answer_plain(answer: Answer, passages: dict[int, str] | None = None) -> str:
    """The answer, then the numbered sources (title · section).

    The quoted sentences are the answer itself, so they are not printed a second time;
    `passages` (citation number -> whole passage) adds each passage under its source.
    Related rules (no direct answer) are listed with their sentences, labelled as such.
    """
    if not answer.answered:
        if not answer.related:
            return answer.answer
        lines = [answer.answer, "", prompts.load("related_heading")]
        for c in answer.related:
            lines.append(source_line(c))
            lines.append(f"    “{c.quote}”")
        return "\n".join(lines)
    lines = [answer.answer, "", prompts.load("answer_sources_heading")]
    for c in answer.citations:
        lines.append(source_line(c))
        if passages and c.n in passages:
            lines.append("    " + passages[c.n].replace("\n", "\n    "))
    return "\n".join(lines)
