"""Telegram rendering: escaping, splitting below the limit, buttons."""

from __future__ import annotations

import html
import re

from bot.messages import Passage
from bot.qa import Answer, Citation
from bot.tg_render import (
    answer_keyboard,
    answer_messages,
    passage_messages,
    text_messages,
    utf16_len,
)


def _answer(n: int, quote_len: int) -> Answer:
    cites = [
        Citation(
            n=i,
            source="a.md",
            title="手册<草案>",
            section=f"一、第{i}节",
            score=1.0,
            quote=("监考员须核对准考证与身份证，" * 40)[:quote_len] + f"<{i}>&。",
        )
        for i in range(1, n + 1)
    ]
    return Answer("问？", True, "".join(f"{c.quote}[{c.n}]" for c in cites), cites)


def _plain(messages: list[str]) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", "\n".join(messages)))


def test_long_answer_split_without_breaking_tags_or_losing_text() -> None:
    answer = _answer(20, 600)
    messages = answer_messages(answer)
    assert len(messages) > 2
    for m in messages:
        assert utf16_len(m) <= 4096
        assert m.count("<blockquote>") == m.count("</blockquote>")
        assert m.count("<b>") == m.count("</b>")
    plain = _plain(messages)
    for c in answer.citations:
        # each quote once, in the answer; the source list gives title · section only
        assert plain.count(c.quote) == 1 and f"[{c.n}] 手册<草案> · 一、第{c.n}节" in plain


def test_everything_is_escaped() -> None:
    messages = answer_messages(_answer(1, 20))
    assert "&lt;1&gt;&amp;" in messages[0] and "手册&lt;草案&gt;" in messages[0]
    assert text_messages("a < b & c") == ["a &lt; b &amp; c"]


def test_one_enormous_line_is_cut() -> None:
    messages = text_messages("字" * 9000)
    assert len(messages) == 3 and all(utf16_len(m) <= 4096 for m in messages)
    assert "".join(messages) == "字" * 9000


def test_buttons_only_for_logged_answers() -> None:
    answer = _answer(2, 20)
    assert answer_keyboard(answer, None) is None
    rows = answer_keyboard(answer, 42).inline_keyboard  # type: ignore[union-attr]
    assert [b.callback_data for b in rows[0]] == ["src:42:1", "src:42:2"]
    assert [b.callback_data for b in rows[1]] == ["fb:42:1", "fb:42:-1"]
    refused = Answer("问？", False, "知识库中没有找到……")
    assert answer_keyboard(refused, 42) is None


def test_passage_marks_the_quote() -> None:
    p = Passage(
        1, "手册", "一、职责", "前文。监考员须核对证件。后文<完>。", "监考员须核对证件。", True
    )
    (m,) = passage_messages(p)
    assert "<b><u>监考员须核对证件。</u></b>" in m and "后文&lt;完&gt;" in m
    changed = passage_messages(Passage(1, "手册", "", "旧引文", "旧引文", False))
    assert "已更新" in changed[0] and "旧引文" in changed[0]


def test_passage_marks_a_quote_whose_sentence_was_broken_over_lines() -> None:
    text = "考生须知\n开考15分钟后\n考生不得进入考场。\n考生只准携带下列物品：\n（一）2B铅笔\n（二）橡皮"
    (m,) = passage_messages(Passage(1, "须知", "", text, "开考15分钟后 考生不得进入考场。", True))
    assert "<b><u>开考15分钟后\n考生不得进入考场。</u></b>" in m
    (m,) = passage_messages(
        Passage(1, "须知", "", text, "考生只准携带下列物品：……（二）橡皮", True)
    )
    assert m.count("<b><u>") == 2 and "<b><u>（二）橡皮</u></b>" in m
