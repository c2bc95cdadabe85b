"""Answer types: what kind of figure a question asks for, and whether a sentence states one."""

from __future__ import annotations

import pytest

from knowledge.textutil import asked_quantity, states_quantity


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("监考员一天的劳务补贴是多少钱？", "money"),
        ("考生最晚几点能进考场？", "time"),
        ("卖答案给考生的要判几年？", "duration"),
        ("屏蔽仪要提前多久打开", "duration"),
        ("保密室每班至少要几个人？", "count"),
        ("突发事件按严重程度分几级？", "count"),
        ("考场最多能坐多少考生", "any"),
        ("省里要大家克服哪几种不好的心态？", None),  # which ones, not how many
        ("考生作弊怎么处理？", None),
    ],
)
def test_the_kind_of_figure_a_question_asks_for(question: str, kind: str | None) -> None:
    assert asked_quantity(question) == kind


def test_a_sentence_answers_only_with_a_figure_of_the_asked_kind() -> None:
    assert states_quantity("确保每班不少于4人", "count")
    assert not states_quantity("确保每班不少于4人", "duration")
    assert states_quantity("处三年以下有期徒刑", "duration")
    assert states_quantity("试卷保管情况于每天21:30前报告", "time")
    assert states_quantity("开考前15分钟", "time")  # "when" is also answered by how long before
    assert states_quantity("每人每天补贴一百元", "money")
    assert not states_quantity(
        "第三十三条 应当签订试卷安全保密合同", "any"
    )  # a label, not a figure
