"""Answers over the seed documents: citations, quotes, refusals and the JSON contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.evaluate import evaluate, read_questions
from bot.qa import InvalidQuestion

pytestmark = pytest.mark.slow


def test_answer_quotes_the_exact_source_sentence(seed_services) -> None:  # type: ignore[no-untyped-def]
    answer = seed_services.qa.ask("保密室值班每班至少要几个人？")
    assert answer.answered
    first = answer.citations[0]
    assert first.source.startswith("003_") and "不少于4人" in first.quote
    assert first.section == "二、规范管理 > 三要认真落实各项安全保密制度"
    assert first.title == "市长中考工作会议讲话"
    # the quote is the document's own text at the recorded offsets, and short
    assert seed_services.index.document_text(first.path)[first.start : first.end] == first.quote
    assert len(first.quote) <= 200
    assert f"[{first.n}]" in answer.answer and first.quote in answer.answer


@pytest.mark.parametrize(
    "question", ["今天北京天气怎么样？", "监考员每场的劳务费是多少？", "考生迟到多久不能进考场？"]
)
def test_uncovered_questions_are_declined_with_a_pointer(seed_services, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = seed_services.qa.ask(question)
    assert not answer.answered and not answer.citations
    assert "没有找到" in answer.answer and "招生办" in answer.answer


def test_traditional_question_is_understood(seed_services) -> None:  # type: ignore[no-untyped-def]
    answer = seed_services.qa.ask("保密室值班期間有哪些禁止行為？")
    assert answer.answered and "严禁会客" in answer.citations[0].quote


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "问题是空的"),
        ("？？？", "问题是空的"),
        ("怎么办？", "太笼统"),
        ("考" * 400, "问题太长"),
    ],
)
def test_unusable_questions_get_a_clear_message(seed_services, question: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidQuestion, match=message):
        seed_services.qa.ask(question)


def test_json_contract(seed_services) -> None:  # type: ignore[no-untyped-def]
    data = seed_services.qa.ask("谁负责考点周边的交通疏导？").to_json()
    assert set(data) >= {"question", "answered", "answer", "citations"}
    assert data["answered"] is True and isinstance(data["answer"], str)
    for n, c in enumerate(data["citations"], 1):
        assert set(c) == {"n", "source", "title", "section", "quote", "score"}
        assert c["n"] == n and c["source"].endswith(".txt") and isinstance(c["score"], float)


def test_seed_question_set_meets_the_bar(seed_services, shared: Path) -> None:  # type: ignore[no-untyped-def]
    report = evaluate(seed_services.qa.ask, read_questions(shared / "eval" / "questions.jsonl"))
    m = report.metrics()
    assert m["hit@1"] >= 0.85 and m["hit@3"] >= 0.95, m
    assert m["refusal_rate"] == 1.0 and m["false_refusal_rate"] == 0.0, m
    assert m["median_quote_chars"] <= 200, m
