"""The "原文" view of a citation, through the real core, index and answer log."""

from __future__ import annotations

from pathlib import Path

from bot.core import Core
from bot.messages import Message
from bot.services import build_services
from bot.settings import load_settings
from ingest.pipeline import ingest

# Word and web notices break a sentence over lines; kaowu quotes it on one line.
NOTICE = (
    "关于考场纪律的通知\n"
    "一、交卷\n"
    "考试结束前30分钟\n"
    "考生方可交卷离场。\n"
    "二、入场\n"
    "开考15分钟后，考生不得进入考场。\n"
)


def test_the_source_of_a_quote_broken_over_lines_is_the_current_passage(tmp_path: Path) -> None:
    """A quote joined from two lines was not found verbatim in its passage, so the 原文 button
    said the document had changed since and showed only the quote."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "纪律.txt").write_text(NOTICE, encoding="utf-8")
    settings = load_settings(None, storage={"data_dir": tmp_path / "data"})
    services = build_services(settings, reports=True)
    try:
        ingest(services.index, [docs], progress=False)
        core = Core(services)
        msg = Message(user_id=7, chat_id=7, text="考生最早什么时候可以交卷？", is_private=True)
        reply = next(r for r in core.handle(msg) if r.answer_id is not None)
        quote = reply.answer.citations[0].quote
        assert quote == "考试结束前30分钟 考生方可交卷离场。"
        passage = core.passage(reply.answer_id, 1)
        assert passage is not None and passage.current
        assert "考试结束前30分钟\n考生方可交卷离场。" in passage.text
    finally:
        services.close()
