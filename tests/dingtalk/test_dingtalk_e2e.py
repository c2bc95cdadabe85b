"""End to end: the real `dingtalk-stream` SDK client and robot OpenAPI calls against the fake."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.dingtalk.conftest import (
    CHIEF,
    COORD_GROUP,
    COORDINATOR,
    OTHER_GROUP,
    PROCTOR,
    STAFF_GROUP,
    DtEnv,
    start_dt,
    stop_dt,
)
from tests.dingtalk.fake_dingtalk import FakeDingTalk
from tests.helpers import FakeClock

pytestmark = pytest.mark.slow
QUESTION = "考生的手机在考场里响了怎么办？"


async def test_group_question_answered_with_citations_only_when_mentioned(dt: DtEnv) -> None:
    await dt.fake.say(PROCTOR, "保密室每班几个人", group=STAFF_GROUP, at_bot=False)
    await dt.fake.say(PROCTOR, QUESTION, group=STAFF_GROUP)
    (answer,) = await dt.fake.wait_for(STAFF_GROUP)
    await dt.fake.wait_acked()
    assert len(dt.fake.to(STAFF_GROUP)) == 1  # the unaddressed message got nothing
    assert answer.kind == "group" and answer.key == "sampleMarkdown"
    assert "[1]" in answer.text and "**来源：**" in answer.text and "收缴" in answer.text
    # In a group, taps would not reach the robot: the answer says what to type instead.
    assert "@我 回复「原文" in answer.text
    answer_id = answer.text.split("原文 ")[1].split(" ")[0]
    await dt.fake.say(PROCTOR, f"原文 {answer_id} 1", group=STAFF_GROUP)
    passage = (await dt.fake.wait_for(STAFF_GROUP, 2))[1]
    assert passage.text.startswith("**[1] 考点考务工作手册（示例）")


async def test_private_answer_has_source_and_feedback_buttons(dt: DtEnv) -> None:
    await dt.fake.say(PROCTOR, QUESTION)
    (answer,) = await dt.fake.wait_for(PROCTOR)
    assert answer.kind == "user" and answer.key.startswith("sampleActionCard")
    assert "原文 [1]" in answer.buttons and answer.buttons[-2:] == ["👍 有帮助", "👎 没帮上"]
    down = next(v for k, v in answer.param.items() if v.endswith("%F0%9F%91%8E%20" + v.split("%20")[-1]) and k.startswith("actionURL"))
    assert down.startswith("dtmd://dingtalkclient/sendMessage?content=")
    # A tap sends the button's text as the user: 👎 <answer id>.
    from urllib.parse import unquote

    await dt.fake.say(PROCTOR, unquote(down.split("content=")[1]))
    thanks = (await dt.fake.wait_for(PROCTOR, 2))[1]
    assert "没帮上忙" in thanks.text
    assert dt.services.answers is not None
    (logged,) = dt.services.answers.recent(only_negative=True)
    assert logged.question == QUESTION and logged.down == 1
