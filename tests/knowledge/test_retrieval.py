"""Candidate features: what a unit is credited with when the ranker judges it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import ingest
from knowledge.retrieval import rank

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
