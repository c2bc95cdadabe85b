"""Incidents over the real Bot API client against the fake server: a photo (sent as a photo or
as an image file) kept with the incident, and 招生办's one-tap acknowledgement reaching the
reporter."""

from __future__ import annotations

import pytest

from tests.telegram.conftest import CHIEF, COORD_CHAT, COORDINATOR, GROUP, BotEnv
from tests.telegram.fake_bot_api import BOT_USERNAME

pytestmark = pytest.mark.slow
PNG = b"\x89PNG\r\n\x1a\n" + b"kaowu" * 200


def texts(env: BotEnv, chat_id: int) -> list[str]:
    return [c.params["text"] for c in env.api.sent("sendMessage", chat_id)]


async def _incident(env: BotEnv, line: str) -> None:
    env.api.say(CHIEF, CHIEF, "/bind 001 AAA111")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", CHIEF))
    env.api.say(CHIEF, CHIEF, line)
    await env.api.wait_for(lambda c: any("请核对" in t for t in texts(env, CHIEF)))
    echo = env.api.sent_by_id[max(env.api.sent_by_id)]
    assert [b["text"] for b in echo["reply_markup"]["inline_keyboard"][0]] == ["确认", "取消"]
    env.api.tap(CHIEF, echo, "say:确认")
    await env.api.wait_for(lambda c: any("已记录事件" in t for t in texts(env, CHIEF)))


async def test_one_tap_acknowledgement_reaches_the_reporter(env: BotEnv) -> None:
    await _incident(env, "/incident 重大，保密室门锁被撬")
    await env.api.wait_for(lambda c: env.api.sent("sendMessage", COORD_CHAT))
    (alert_call,) = env.api.sent("sendMessage", COORD_CHAT)
    buttons = alert_call.params["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["确认收到 #1"]
    alert = next(m for m in env.api.sent_by_id.values() if m["chat"]["id"] == COORD_CHAT)
    env.api.tap(COORDINATOR, alert, buttons[0]["callback_data"])
    await env.api.wait_for(lambda c: any("已确认收到事件 #1" in t for t in texts(env, COORD_CHAT)))
    await env.api.wait_for(lambda c: any("招生办已收到" in t for t in texts(env, CHIEF)))
    assert env.services.reports is not None
    (inc,) = env.services.reports.incidents(env.services.reports.today())
    assert inc.acknowledged_at is not None
    env.api.tap(CHIEF, alert, buttons[0]["callback_data"])  # a chief cannot acknowledge
    await env.api.wait_for(lambda c: any("仅限招生办" in t for t in texts(env, COORD_CHAT)))
    assert sum("招生办已收到" in t for t in texts(env, CHIEF)) == 1


async def test_photo_and_image_file_are_kept_with_the_incident(env: BotEnv) -> None:
    await _incident(env, "/incident 一般 3号考场考生携带手机")
    env.api.photo(CHIEF, CHIEF, PNG[:-1] + b"1")
    await env.api.wait_for(lambda c: any("照片已附在事件 #1" in t for t in texts(env, CHIEF)))
    env.api.photo(CHIEF, CHIEF, PNG, caption="#1", document=True)
    await env.api.wait_for(lambda c: any("共 2 张照片" in t for t in texts(env, CHIEF)))
    assert env.services.reports is not None
    (inc,) = env.services.reports.incidents(env.services.reports.today())
    data = env.settings.data_dir
    assert [p.rsplit(".", 1)[1] for p in inc.photos] == ["jpg", "png"]
    assert (data / inc.photos[1]).read_bytes() == PNG
    assert len(env.api.sent("download")) == 2  # the largest size only, once each


async def test_photo_in_a_group_only_when_addressed(env: BotEnv) -> None:
    await _incident(env, "/incident 一般 考生迟到")
    env.api.photo(CHIEF, GROUP, PNG)  # a photo shared with colleagues is not for the bot
    await env.api.settle()
    assert not env.api.sent("download")
    env.api.photo(CHIEF, GROUP, PNG, caption=f"@{BOT_USERNAME} #1")
    await env.api.wait_for(lambda c: any("照片已附在事件 #1" in t for t in texts(env, GROUP)))
