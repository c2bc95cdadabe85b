"""Candidate features: what a unit is credited with when the ranker judges it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from knowledge.index import KnowledgeIndex
from knowledge.retrieval import bundled_model, decide, rank

pytestmark = pytest.mark.slow

RULES = """# 考场规则

## 第二章 考场纪律

第十二条 考生不得携带手机进入考场。已经带入的，应当在开考前交由监考员统一保管，考试结束后领回。

## 第三章 考点设置

第十三条 考点应当在考场门口设置物品存放处，并安排专人看管。
"""


def test_sentence_is_credited_with_its_passages_subject(make_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rules.md").write_text(RULES, encoding="utf-8")
    index = make_index()
    ingest(index, [docs], progress=False)
    ranked = rank(index, "考生的手机开考前交给谁保管？", None)
    by_quote = {c.quote: c.features for c in ranked.candidates}
    # The answering sentence does not repeat 手机: its article says it once, in the sentence
    # before, and the sentence is credited with it through its passage.
    answer = by_quote["已经带入的，应当在开考前交由监考员统一保管，考试结束后领回。"]
    assert "手机" not in "已经带入的，应当在开考前交由监考员统一保管，考试结束后领回。"
    assert answer["ctx_pair"] > answer["pair_cov"]
    # A sentence of another chapter gets no credit from this one.
    other = by_quote["第十三条 考点应当在考场门口设置物品存放处，并安排专人看管。"]
    assert other["ctx_pair"] < answer["ctx_pair"]


NOTICE = """关于做好今年中考考务工作的通知

各考点：
一、考务人员
监考员须于每科开考前40分钟到考务办公室签到，领取试卷袋。监考员不得携带手机进入考场。
每个考场安排两名监考员，有直系亲属参加当年中考的人员不得担任监考员。
二、考生入场
考生凭准考证和身份证进入考场。开考15分钟后，考生不得进入考场。考生交卷出场时间不得早于每科考试结束前30分钟。
三、突发事件
考点发生停电、火灾等突发事件，考点主考须在10分钟内向区招生办报告。
考生在考试中突发疾病的，由考点医务人员现场处置，必要时送医，并做好记录。
"""


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("考生考试时晕倒了怎么办", "考生在考试中突发疾病的"),
        ("我女儿今年中考，我还能当监考吗", "有直系亲属参加当年中考的人员不得担任监考员"),
    ],
)
def test_one_short_notice_cites_only_what_answers(
    make_index: Callable[[], KnowledgeIndex], tmp_path: Path, question: str, answer: str
) -> None:
    """With a single notice indexed there are only a few candidates, and the notice's other
    sentences must not ride along as further citations just for being there."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notice.txt").write_text(NOTICE, encoding="utf-8")
    index = make_index()
    ingest(index, [docs], progress=False)
    model = bundled_model()
    decision = decide(rank(index, question, model), model)
    assert decision.verdict == "answer"
    quotes = [c.quote for c in decision.chosen]
    assert [answer in q for q in quotes] == [True], quotes
