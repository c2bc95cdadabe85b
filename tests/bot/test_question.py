"""Understanding questions as staff type them: mentions, greetings, script, typos, small talk."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.question import TypoRepair, strip_politeness, understand
from knowledge.lexical import is_word, segment


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("@kaowu_bot 考生手机响了怎么办？", "考生手机响了怎么办？"),
        ("老师好，请问考生手机响了怎么办？", "考生手机响了怎么办？"),
        ("各位老师好！麻烦问一下：保密室要几个人值班", "保密室要几个人值班？"),
        ("你好，想问下监控录像存多久？谢谢", "监控录像存多久？"),
        ("监控录像存多久啊", "监控录像存多久？"),
        # a salutation is only dropped when it is one: here 老师 is the subject
        ("老师被抽调去监考，工资照发吗？", "老师被抽调去监考，工资照发吗？"),
        ("考场停电了先干嘛？", "考场停电了先干嘛？"),
    ],
)
def test_politeness_and_mentions_are_removed(raw: str, clean: str) -> None:
    assert understand(raw).text == clean


@pytest.mark.parametrize(
    "raw",
    [
        "考生手机响了，怎么办？",
        "考生手机响了，怎么办",
        "考生手机响了 怎么办",
        "考生手机响了，怎么办啊",
        "考生手机响了，怎么办？谢谢！",
        "考生手机响了，怎么办。。",
        "考生手机响了\u3000怎么办?",
    ],
)
def test_however_a_question_ends_it_is_searched_the_same(raw: str) -> None:
    assert understand(raw).text == "考生手机响了，怎么办？"


def test_traditional_script_becomes_simplified() -> None:
    assert understand("監考老師是不是要迴避？").text == "监考老师是不是要回避？"


@pytest.mark.parametrize(
    "raw", ["你好", "您好！", "谢谢", "多谢老师", "在吗？", "@kaowu_bot", "你是谁", "好的"]
)
def test_small_talk_is_recognised(raw: str) -> None:
    assert understand(raw).small_talk


@pytest.mark.parametrize("raw", ["你好，考生迟到怎么办", "谢谢老师，保密室几个人值班？"])
def test_a_question_with_a_greeting_is_not_small_talk(raw: str) -> None:
    q = understand(raw)
    assert not q.small_talk and q.text


VOCAB = ["保密室", "保障", "处理", "跟车", "试卷", "考生", "负责人", "收集", "手机", "公安"]


@pytest.mark.parametrize(
    ("raw", "fixed"),
    [
        ("试卷报密室外围的防护要怎么搞", "试卷保密室外围的防护要怎么搞？"),
        ("考生的吃住要保章到什么程度", "考生的吃住要保障到什么程度？"),
        ("用外网电脑处里涉密数据可以吗", "用外网电脑处理涉密数据可以吗？"),
    ],
)
def test_pinyin_typos_are_repaired_to_the_knowledge_base_word(raw: str, fixed: str) -> None:
    repair = TypoRepair(VOCAB, is_word, segment)
    assert understand(raw, repair).text == fixed


@pytest.mark.parametrize(
    "raw",
    [
        "出了重大舞弊事件谁要负责任",  # 负责任 is right, though 负责人 sounds the same
        "考生手机响了怎么办",  # 手机 is a word even where the corpus has 收集
        "公安要不要派人参与",
    ],
)
def test_correct_words_are_left_alone(raw: str) -> None:
    repair = TypoRepair(VOCAB, is_word, segment)
    q = understand(raw, repair)
    assert q.text == raw + "？" and not q.repairs


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(
            [*"考生手机保密室你好谢谢老师请问@kaowu_bot，。？！ 啊吗的了\u3000\n監說"]
        ),
        max_size=40,
    )
)
def test_understanding_never_fails_and_never_grows_the_question(raw: str) -> None:
    repair = TypoRepair(VOCAB, is_word, segment)
    q = understand(raw, repair)
    assert isinstance(q.text, str)
    assert len(q.text) <= len(raw) + 1  # at most the "？" it ends with
    assert "@kaowu_bot" not in q.text
    if not q.small_talk:  # cleaning is idempotent: nothing left to strip
        assert strip_politeness(q.text) == q.text
