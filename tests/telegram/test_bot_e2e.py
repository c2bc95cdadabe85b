"""End to end: the real PTB Application over HTTP against the fake Bot API server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import FakeClock
from tests.telegram.conftest import (
    CHIEF,
    COORD_CHAT,
    COORDINATOR,
    GROUP,
    OUTSIDER,
    PROCTOR,
    BotEnv,
    start_bot,
    stop_bot,
)
from tests.telegram.fake_bot_api import BOT_USERNAME

pytestmark = pytest.mark.slow
QUESTION = "考生的手机在考场里响了怎么办？"


def texts(env: BotEnv, chat_id: int) -> list[str]:
    return [c.params["text"] for c in env.api.sent("sendMessage", chat_id)]


async def test_commands_menu_is_set_in_chinese(env: BotEnv) -> None:
    (call,) = env.api.sent("setMyCommands")
    menu = {c["command"]: c["description"] for c in call.params["commands"]}
    assert menu["report"].startswith("填写日报") and menu["ask"].startswith("提问")
    assert "start" not in menu


async def test_group_mention_answered_as_reply_with_citations(env: BotEnv) -> None:
    update = env.api.say(PROCTOR, GROUP, f"@{BOT_USERNAME} {QUESTION}")
    await env.api.wait_for(lambda calls: env.api.sent("sendMessage", GROUP))
    (call,) = env.api.sent("sendMessage", GROUP)
    question_id = env.api.updates[update - 1]["message"]["message_id"]
    assert call.params["reply_parameters"]["message_id"] == question_id
    assert call.params["parse_mode"] == "HTML"
    text = call.params["text"]
    assert "[1]" in text and "<b>来源：</b>" in text and "收缴" in text
    assert text.count("立即收缴") == 1  # the quote is the answer; it is not printed again
    buttons = [
        b["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"] for b in row
    ]
    assert any(b.startswith("src:") for b in buttons) and any(b.endswith(":1") for b in buttons)
    assert env.api.sent("sendChatAction", GROUP)[0].params["action"] == "typing"


async def test_group_chatter_ignored_but_ask_and_replies_answered(env: BotEnv) -> None:
    env.api.say(PROCTOR, GROUP, "大家中午吃什么？")
    env.api.say(PROCTOR, GROUP, "保密室每班几个人")  # a question, but not addressed to the bot
    await env.api.settle()
    assert not env.api.sent("sendMessage", GROUP)
    env.api.say(PROCTOR, GROUP, "/ask 保密室值班每班不得只有几个人？")
    await env.api.wait_for(lambda c: len(env.api.sent("sendMessage", GROUP)) == 1)
    bot_message = env.api.sent_by_id[max(env.api.sent_by_id)]
    env.api.say(PROCTOR, GROUP, "突发事件分几级？", reply_to=bot_message)
    await env.api.wait_for(lambda c: len(env.api.sent("sendMessage", GROUP)) == 2)
    assert "四级" in texts(env, GROUP)[1]


async def test_private_question(env: BotEnv) -> None:
    env.api.say(PROCTOR, PROCTOR, "监控录像要保存多久？")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", PROCTOR))
    assert "六个月" in texts(env, PROCTOR)[0]
    env.api.say(PROCTOR, PROCTOR, "今天北京天气怎么样？")
    await env.api.wait_for(lambda c: len(env.api.sent("sendMessage", PROCTOR)) == 2)
    assert "没有找到" in texts(env, PROCTOR)[1] and "招生办" in texts(env, PROCTOR)[1]


async def test_feedback_and_source_buttons(env: BotEnv) -> None:
    env.api.say(PROCTOR, PROCTOR, QUESTION)
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", PROCTOR))
    answer_msg = env.api.sent_by_id[max(env.api.sent_by_id)]
    buttons = [
        b["callback_data"] for row in answer_msg["reply_markup"]["inline_keyboard"] for b in row
    ]
    env.api.tap(
        PROCTOR, answer_msg, next(b for b in buttons if b.startswith("fb:") and b.endswith(":-1"))
    )
    await env.api.wait_for(lambda c: env.api.sent("answerCallbackQuery"))
    assert "没帮上忙" in env.api.sent("answerCallbackQuery")[0].params["text"]
    env.api.tap(PROCTOR, answer_msg, next(b for b in buttons if b.startswith("src:")))
    await env.api.wait_for(lambda c: len(env.api.sent("sendMessage", PROCTOR)) == 2)
    passage = texts(env, PROCTOR)[1]
    assert passage.startswith("<b>[1] 考点考务工作手册（示例）") and "<b><u>" in passage
    assert env.services.answers is not None
    (logged,) = env.services.answers.recent(only_negative=True)
    assert logged.question == QUESTION and logged.down == 1 and logged.citations[0]["quote"]
    # and a reviewer sees it from the command line
    import json
    import os
    import subprocess
    import sys

    run_env = {**os.environ, "KAOWU_DATA_DIR": str(env.settings.data_dir),
               "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "bot.cli", "feedback", "--negative", "--json"],
                         env=run_env, capture_output=True, text=True, timeout=120)  # fmt: skip
    (row,) = json.loads(out.stdout)
    assert row["question"] == QUESTION and row["down"] == 1 and row["citations"]


async def test_bind_zero_status(env: BotEnv) -> None:
    env.api.say(CHIEF, CHIEF, "/bind 001 AAA111")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", CHIEF))
    env.api.say(CHIEF, CHIEF, "/zero")
    await env.api.wait_for(lambda c: len(env.api.sent("sendMessage", CHIEF)) == 2)
    assert "零报告（第 1 版" in texts(env, CHIEF)[1]
    env.api.say(COORDINATOR, COORD_CHAT, "/status")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", COORD_CHAT))
    status = texts(env, COORD_CHAT)[0]
    assert "已报 1 个（按时 1，迟报 0）" in status and "未报 2 个" in status


async def test_guided_report_with_buttons(env: BotEnv) -> None:
    env.api.say(CHIEF, CHIEF, "/bind 001 AAA111")
    env.api.say(CHIEF, CHIEF, "/report")
    for answer in ("300", "298", "2", "0", "双人值守", "监控屏蔽正常", "无"):
        env.api.say(CHIEF, CHIEF, answer)
    await env.api.wait_for(lambda c: any("请核对" in t for t in texts(env, CHIEF)))
    confirm = env.api.sent_by_id[max(env.api.sent_by_id)]
    assert [b["text"] for b in confirm["reply_markup"]["inline_keyboard"][0]] == ["确认", "取消"]
    env.api.tap(CHIEF, confirm, "say:确认")
    await env.api.wait_for(lambda c: any("日报（第 1 版" in t for t in texts(env, CHIEF)))
    assert env.services.reports is not None
    (report,) = env.services.reports.current_reports(env.services.reports.today()).values()
    assert report.values["present"] == 298 and report.values["duty"] == "双人值守"
    env.api.say(CHIEF, CHIEF, "什么是零报告？")  # the dialogue is over: a question again
    await env.api.wait_for(lambda c: any("零报告" in t and "[1]" in t for t in texts(env, CHIEF)))


async def test_guided_report_in_a_group_uses_force_reply(env: BotEnv) -> None:
    env.api.say(CHIEF, CHIEF, "/bind 001 AAA111")
    # Chats are served concurrently: only messages of one chat keep their order.
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", CHIEF))
    env.api.say(CHIEF, GROUP, "/report")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", GROUP))
    assert env.api.sent("sendMessage", GROUP)[0].params["reply_markup"] == {
        "force_reply": True, "selective": True,
    }  # fmt: skip
    prompt = env.api.sent_by_id[max(env.api.sent_by_id)]
    env.api.say(PROCTOR, GROUP, "300")  # someone else's chatter is not taken as an answer
    env.api.say(CHIEF, GROUP, "300", reply_to=prompt)
    await env.api.wait_for(lambda c: any("实考人数" in t for t in texts(env, GROUP)))
    assert len(texts(env, GROUP)) == 2


async def test_serious_incident_reaches_coordinator_chat(env: BotEnv) -> None:
    env.api.say(CHIEF, CHIEF, "/bind 001 AAA111")
    env.api.say(CHIEF, CHIEF, "/incident 重大 保密室报警器误报后发现窗户未锁 措施=已复查并上锁")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", COORD_CHAT))
    alert = texts(env, COORD_CHAT)[0]
    assert "【重大事件】001 第一中学考点" in alert and "已复查并上锁" in alert
    assert any("已同时报送招生办" in t for t in texts(env, CHIEF))


async def test_escalation_arrives_even_if_the_reporters_reply_fails(env: BotEnv) -> None:
    env.api.say(CHIEF, CHIEF, "/bind 001 AAA111")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", CHIEF))
    env.api.fail("sendMessage", 500, times=3, chat_id=CHIEF)
    env.api.say(CHIEF, CHIEF, "/incident 特别重大 保密室试卷袋封条破损")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", COORD_CHAT))
    assert "【特别重大事件】" in texts(env, COORD_CHAT)[0]
    assert env.services.reports is not None
    assert len(env.services.reports.incidents(env.services.reports.today())) == 1


async def test_unauthorised_user_and_chat_refused(env: BotEnv) -> None:
    env.api.say(OUTSIDER, OUTSIDER, QUESTION)
    env.api.say(OUTSIDER, OUTSIDER, "/zero")
    env.api.say(OUTSIDER, -5555, f"@{BOT_USERNAME} {QUESTION}")
    await env.api.settle(1.5)
    private, group = texts(env, OUTSIDER), texts(env, -5555)
    assert private == [env.api.sent("sendMessage", OUTSIDER)[0].params["text"]] and len(group) == 1
    assert "只为指定的考务工作群" in private[0] and "只为指定的考务工作群" in group[0]
    assert not any("收缴" in t for t in private + group)  # nothing from the knowledge base
    env.api.say(PROCTOR, PROCTOR, QUESTION)  # a member of the staff group may ask in private
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", PROCTOR))
    assert "收缴" in texts(env, PROCTOR)[0]


async def test_malformed_commands_get_their_usage(env: BotEnv) -> None:
    env.api.say(CHIEF, CHIEF, "/bind 001")
    env.api.say(CHIEF, CHIEF, "/ask")
    env.api.say(CHIEF, CHIEF, "/nosuchcommand")
    await env.api.wait_for(lambda c: len(env.api.sent("sendMessage", CHIEF)) == 3)
    out = texts(env, CHIEF)
    assert "用法：/bind 考点代码 加入码" in out[0]
    assert "用法：/ask 问题" in out[1]
    assert "没有 /nosuchcommand 这个命令" in out[2]


async def test_long_reply_split_below_the_limit(env: BotEnv) -> None:
    assert env.services.reports is not None
    rows = "".join(f"X{i:04d},某某县第{i}中学高考考点,某某县,J{i}\n" for i in range(400))
    env.services.reports.import_sites("code,name,district,join_code\n" + rows)
    env.api.say(COORDINATOR, COORDINATOR, "/status")
    await env.api.settle(2.0)
    parts = texts(env, COORDINATOR)
    assert len(parts) >= 3
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    joined = "\n".join(parts)
    assert "X0000" in joined and "X0399" in joined


async def test_exports_arrive_as_documents(env: BotEnv) -> None:
    env.api.say(COORDINATOR, COORDINATOR, "/export 2027-06-07")
    await env.api.wait_for(lambda c: len(env.api.sent("sendDocument", COORDINATOR)) == 2)
    names = sorted(c.files["document"][0] for c in env.api.sent("sendDocument", COORDINATOR))
    assert names == ["kaowu-2027-06-07.csv", "kaowu-2027-06-07.xlsx"]
    csv_bytes = next(c.files["document"][1] for c in env.api.sent("sendDocument", COORDINATOR)
                     if c.files["document"][0].endswith(".csv"))  # fmt: skip
    assert "001,第一中学考点" in csv_bytes.decode("utf-8-sig")


async def test_rate_limit_retry_after_is_respected(env: BotEnv) -> None:
    env.api.say(CHIEF, CHIEF, "/bind 001 AAA111")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", CHIEF))
    env.api.fail("sendMessage", 429, retry_after=1)
    env.api.say(CHIEF, CHIEF, "/zero")
    await env.api.wait_for(lambda c: len(env.api.sent("sendMessage", CHIEF)) == 2)
    refused = [c for c in env.api.calls if c.method == "sendMessage!429"]
    delivered = env.api.sent("sendMessage", CHIEF)[1]
    assert refused and delivered.at - refused[0].at >= 1.0  # waited retry_after before retrying
    assert "零报告（第 1 版" in delivered.params["text"]


async def test_server_errors_never_lose_a_confirmed_report(env: BotEnv) -> None:
    env.api.say(CHIEF, CHIEF, "/bind 001 AAA111")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", CHIEF))
    env.api.fail("sendMessage", 500, times=3)  # the confirmation and both retries fail
    env.api.say(CHIEF, CHIEF, "/zero")
    await env.api.wait_for(lambda c: len([x for x in c if x.method == "sendMessage!500"]) == 3)
    await env.api.wait_for(lambda c: any("出了问题" in t for t in texts(env, CHIEF)))
    assert env.services.reports is not None
    assert [v.version for v in env.services.reports.versions(CHIEF)] == [1]  # stored once
    env.api.say(CHIEF, CHIEF, "/myreports")  # and the bot keeps working
    await env.api.wait_for(lambda c: any("第1版 零报告" in t for t in texts(env, CHIEF)))


async def test_due_reminder_sent_by_job_queue_at_start(tmp_path: Path, handbook_data: Path) -> None:
    first = await start_bot(tmp_path / "a", handbook_data, FakeClock("2027-06-07 09:00"))
    first.api.say(CHIEF, CHIEF, "/bind 001 AAA111")
    await first.api.wait_for(lambda c: first.api.sent("sendMessage", CHIEF))
    data_dir = first.settings.data_dir
    await stop_bot(first)
    # Restarted at 19:30: the 19:00 reminder was missed while the bot was down; it goes out now.
    import shutil

    shutil.copytree(data_dir, tmp_path / "b" / "data")
    env = await start_bot(tmp_path / "b", handbook_data, FakeClock("2027-06-07 19:30"))
    try:
        await env.api.wait_for(lambda c: env.api.sent("sendMessage", CHIEF))
        assert "还没有提交" in texts(env, CHIEF)[0]
        assert env.services.notifier is not None and env.services.reports is not None
        plan = env.services.notifier.plan(env.services.reports.now())
        assert ("digest", "2027-06-07") in [(j.kind, str(j.day)) for j in plan]  # still ahead
    finally:
        await stop_bot(env)
