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
from tests.helpers import FakeClock, eventually

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
    down = next(
        v
        for k, v in answer.param.items()
        if v.endswith("%F0%9F%91%8E%20" + v.split("%20")[-1]) and k.startswith("actionURL")
    )
    assert down.startswith("dtmd://dingtalkclient/sendMessage?content=")
    # A tap sends the button's text as the user: 👎 <answer id>.
    from urllib.parse import unquote

    await dt.fake.say(PROCTOR, unquote(down.split("content=")[1]))
    thanks = (await dt.fake.wait_for(PROCTOR, 2))[1]
    assert "没帮上忙" in thanks.text
    assert dt.services.answers is not None
    (logged,) = dt.services.answers.recent(only_negative=True)
    assert logged.question == QUESTION and logged.down == 1


async def _bind(dt: DtEnv, staff: str = CHIEF) -> None:
    n = len(dt.fake.to(staff))
    await dt.fake.say(staff, "/bind 001 AAA111")
    assert "已绑定" in (await dt.fake.wait_for(staff, n + 1))[-1].text


async def test_private_zero_report_and_coordinator_status(dt: DtEnv) -> None:
    await _bind(dt)
    await dt.fake.say(CHIEF, "/zero")
    assert "零报告（第 1 版" in (await dt.fake.wait_for(CHIEF, 2))[-1].text
    await dt.fake.say(COORDINATOR, "/status", group=COORD_GROUP)
    (status,) = await dt.fake.wait_for(COORD_GROUP)
    assert "已报 1 个（按时 1，迟报 0）" in status.text and "未报 2 个" in status.text


async def test_guided_report_with_buttons_in_private(dt: DtEnv) -> None:
    await _bind(dt)
    await dt.fake.say(CHIEF, "/report")
    for answer in ("300", "298", "2", "0", "双人值守", "监控屏蔽正常", "无"):
        await dt.fake.say(CHIEF, answer)
    await dt.fake.wait_for(CHIEF, 9)
    confirm = dt.fake.to(CHIEF)[-1]
    assert "请核对" in confirm.text and confirm.buttons == ["确认", "取消"]
    assert confirm.param["actionURL1"].endswith("content=%E7%A1%AE%E8%AE%A4")  # 确认
    await dt.fake.say(CHIEF, "确认")  # what the 确认 button sends
    assert "日报（第 1 版" in (await dt.fake.wait_for(CHIEF, 10))[-1].text
    assert dt.services.reports is not None
    (report,) = dt.services.reports.current_reports(dt.services.reports.today()).values()
    assert report.values["present"] == 298 and report.values["duty"] == "双人值守"


async def test_guided_report_in_a_group_takes_numbered_choices(dt: DtEnv) -> None:
    await _bind(dt)
    await dt.fake.say(CHIEF, "/incident", group=STAFF_GROUP)
    (ask_level,) = await dt.fake.wait_for(STAFF_GROUP)
    assert ask_level.key == "sampleText" and "回复数字选择：1 一般" in ask_level.text
    await dt.fake.say(CHIEF, "3", group=STAFF_GROUP)  # 3 = 重大
    await dt.fake.wait_for(STAFF_GROUP, 2)
    # 重大: only what happened is asked, then the echo to confirm with one reply
    await dt.fake.say(CHIEF, "保密室窗户未锁，已上锁", group=STAFF_GROUP)
    echo = (await dt.fake.wait_for(STAFF_GROUP, 3))[-1]
    assert "请核对" in echo.text and "1 确认" in echo.text
    await dt.fake.say(CHIEF, "1", group=STAFF_GROUP)  # 1 = 确认
    (alert,) = await dt.fake.wait_for(COORD_GROUP)
    assert "【重大事件】001 第一中学考点" in alert.text and "已上锁" in alert.text


async def test_serious_incident_reaches_the_coordinator_group(dt: DtEnv) -> None:
    await _bind(dt)
    await dt.fake.say(CHIEF, "/incident 重大 保密室报警器误报后发现窗户未锁 措施=已复查并上锁")
    echo = (await dt.fake.wait_for(CHIEF, 2))[-1]
    assert "请核对" in echo.text and echo.buttons == ["确认", "取消"]  # one tap in private
    await dt.fake.say(CHIEF, "确认")
    (alert,) = await dt.fake.wait_for(COORD_GROUP)
    assert alert.kind == "group"
    assert "【重大事件】001 第一中学考点" in alert.text and "已复查并上锁" in alert.text
    assert "回复以下内容即可：确认收到 #1" in alert.text  # no button in a group: typed as shown
    assert any("已同时报送招生办" in t for t in dt.texts(CHIEF))
    assert dt.services.reports is not None
    outbox = dt.services.reports.outbox
    # The fake sees the alert before the sender's HTTP call returns and marks it sent.
    await eventually(lambda: [n.status for n in outbox.notices()] == ["sent"])
    # 招生办 types the acknowledgement in its group; the reporter gets the receipt in private
    await dt.fake.say(COORDINATOR, "确认收到 #1", group=COORD_GROUP)
    await dt.fake.wait_for(COORD_GROUP, 2)
    receipt = (await dt.fake.wait_for(CHIEF, 4))[-1]
    assert "#1" in receipt.text and "招生办" in receipt.text


async def test_strangers_groups_are_refused(dt: DtEnv) -> None:
    await dt.fake.say(PROCTOR, QUESTION, group=OTHER_GROUP)
    (refusal,) = await dt.fake.wait_for(OTHER_GROUP)
    assert "只为指定的考务工作群" in refusal.text
    await dt.fake.say(PROCTOR, "/help", group=OTHER_GROUP)
    await dt.fake.wait_acked()
    assert len(dt.fake.to(OTHER_GROUP)) == 1  # told once


async def test_reminder_sent_at_its_time(tmp_path: Path, handbook_data: Path) -> None:
    clock = FakeClock("2027-06-07 09:00")
    dt = await start_dt(tmp_path, handbook_data, clock)
    try:
        await _bind(dt)
        await asyncio.sleep(0.5)  # a few pump passes before the reminder time: nothing
        assert len(dt.fake.to(CHIEF)) == 1
        clock.set("2027-06-07 19:00")
        reminder = (await dt.fake.wait_for(CHIEF, 2))[-1]
        assert "【日报提醒】第一中学考点" in reminder.text and "截止时间 20:00" in reminder.text
        clock.set("2027-06-07 20:00")
        (digest,) = await dt.fake.wait_for(COORD_GROUP)
        assert "001 第一中学考点" in digest.text
    finally:
        await stop_dt(dt)


async def test_token_refreshed_before_expiry_and_after_revocation(
    tmp_path: Path, handbook_data: Path
) -> None:
    fake = FakeDingTalk(token_lifetime=1.0)
    await fake.start()
    dt = await start_dt(tmp_path, handbook_data, fake=fake)
    try:
        await dt.fake.say(PROCTOR, "监控录像要保存多久？")
        assert "六个月" in (await dt.fake.wait_for(PROCTOR))[0].text
        await asyncio.sleep(1.2)  # the token has expired by now
        await dt.fake.say(PROCTOR, "突发事件分几级？")
        await dt.fake.wait_for(PROCTOR, 2)
        assert fake.rejected_tokens == 0  # renewed before DingTalk had to refuse it
        calls = fake.token_calls
        fake.token_lifetime = 7200.0
        await asyncio.sleep(1.0)
        await dt.fake.say(PROCTOR, "监控录像要保存多久？")
        await dt.fake.wait_for(PROCTOR, 3)
        fake.revoke = True  # refused although not expired: fetched again, and the send repeated
        await dt.fake.say(PROCTOR, "突发事件分几级？")
        assert "四级" in (await dt.fake.wait_for(PROCTOR, 4))[-1].text
        assert fake.rejected_tokens == 1 and fake.token_calls >= calls + 2
    finally:
        await stop_dt(dt)


async def test_dropped_stream_reconnects_without_losing_or_doubling(dt: DtEnv) -> None:
    await _bind(dt)
    opens = dt.fake.opens
    dt.fake.drop_after_push = 1  # the stream breaks right after delivering /zero, before its ack
    mid = await dt.fake.say(CHIEF, "/zero")
    await dt.fake.wait_acked()  # delivered again on the new connection and acknowledged there
    assert dt.fake.opens > opens and dt.fake.deliveries[f"stream-{mid}"] == 2
    await dt.fake.say(CHIEF, "/myreports")
    await dt.fake.wait_for(CHIEF, 3)
    await asyncio.sleep(0.3)
    texts = dt.texts(CHIEF)
    assert sum("零报告（第 1 版" in t for t in texts) == 1  # answered once
    assert "第 2 版" not in "".join(texts)  # and stored once
    dt.fake.drop_streams()  # a plain network drop: the bot reconnects and keeps serving
    await asyncio.sleep(0.1)
    await dt.fake.say(PROCTOR, "监控录像要保存多久？")
    assert "六个月" in (await dt.fake.wait_for(PROCTOR))[0].text


async def test_rate_limit_waited_out(dt: DtEnv) -> None:
    dt.fake.rate_limited = 2
    await dt.fake.say(PROCTOR, "监控录像要保存多久？")
    (answer,) = await dt.fake.wait_for(PROCTOR)
    assert "六个月" in answer.text and dt.fake.rate_answers == 2


async def test_gateway_down_after_a_drop_is_retried_with_backoff(dt: DtEnv) -> None:
    dt.fake.gateway_down = True
    dt.fake.drop_streams()
    await asyncio.sleep(2.0)
    assert not dt.bot.client.connected.is_set()
    # max_delay is 0.5 s here: pauses of 0.5 s, so a handful of attempts, not a busy loop
    assert 2 <= dt.fake.open_refusals <= 6
    await dt.fake.say(PROCTOR, "监控录像要保存多久？")  # sent while kaowu is disconnected
    dt.fake.gateway_down = False
    await asyncio.wait_for(dt.bot.client.connected.wait(), 5)
    (answer,) = await dt.fake.wait_for(PROCTOR)
    assert "六个月" in answer.text
