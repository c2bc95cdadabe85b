"""Incidents with a lifecycle and forgiving input, through the real core on SQLite and
PostgreSQL: echo and one-tap confirmation, a missing level asked with buttons, corrections and
withdrawal as versions, 续报/终报, 招生办's acknowledgement, photos, zero report then incident,
and free text that means a zero report."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.messages import Message, OutFile, Reply
from bot.reports import export
from bot.reports.service import ReportService
from bot.store.models import Incident
from tests.bot.reports.harness import COORDINATOR, COORDINATOR_CHAT, Harness

CHIEF, OTHER_CHIEF, STRANGER = 101, 102, 555
FULL = "应考=300 实考=298 缺考=2 违纪=1 保密室=双人值守 设备=监控屏蔽正常 备注=无"
JPEG = b"\xff\xd8\xff\xe0" + b"kaowu-photo" * 50


def svc(h: Harness) -> ReportService:
    assert h.services.reports is not None
    return h.services.reports


def today_incidents(h: Harness) -> list:  # type: ignore[type-arg]
    return svc(h).incidents(svc(h).today())


def report(h: Harness, text: str, confirm: str = "确认") -> tuple[str, str]:
    """Send an incident line, then the confirmation: (echo, reply)."""
    echo = h.text(CHIEF, text)
    return echo, h.text(CHIEF, confirm)


def number(h: Harness) -> int:
    return max(i.id for i in today_incidents(h))


def rows(h: Harness) -> int:
    with svc(h).db.read() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(Incident)) or 0)


def photo(h: Harness, user: int, caption: str = "", data: bytes = JPEG,
          mime: str = "image/jpeg") -> str:  # fmt: skip
    msg = Message(user_id=user, chat_id=user, text=caption, user_name="张老师",
                  attachment=OutFile("p.jpg", data, mime))  # fmt: skip
    return "\n".join(r.text for r in h.core.handle(msg))


# ---------------------------------------------------------------------------- forgiving input
@pytest.mark.parametrize(
    "line",
    [
        "/incident 重大，考生携带手机",
        "/incident 重大考生携带手机",
        "／incident\u3000重大：考生携带手机",
    ],
)
def test_level_glued_or_after_full_width_punctuation_is_accepted(h: Harness, line: str) -> None:
    h.bind(CHIEF)
    echo, out = report(h, line)
    assert "【重大】考生携带手机" in echo and "已记录事件" in out
    (inc,) = today_incidents(h)
    assert (inc.level, inc.description) == ("重大", "考生携带手机")


def test_full_width_digits_and_spaces_in_an_incident(h: Harness) -> None:
    h.bind(CHIEF)
    echo, _ = report(h, "/incident　一般　３号考场考生携带手机 时间＝０９：４０")
    assert "考场：3" in echo
    (inc,) = today_incidents(h)
    assert (inc.room, inc.occurred, inc.description) == ("3", "09:40", "3号考场考生携带手机")


def test_missing_level_is_asked_with_buttons_not_refused(h: Harness) -> None:
    h.bind(CHIEF)
    (ask,) = h.say(CHIEF, "/incident 3号考场考生携带手机")
    assert "请选择事件级别" in ask.text and ask.choices == ["一般", "较大", "重大", "特别重大"]
    assert not today_incidents(h)
    (echo,) = h.say(CHIEF, "一般")
    assert "请核对" in echo.text and echo.choices == ["确认", "取消"]
    assert "已记录事件" in h.text(CHIEF, "好")
    (inc,) = today_incidents(h)
    assert (inc.level, inc.room) == ("一般", "3")


@pytest.mark.parametrize("word", ["好的", "是", "对", "确认", "ok", "OK", "好", "确认。"])
def test_every_confirmation_word_confirms(h: Harness, word: str) -> None:
    h.bind(CHIEF)
    _, out = report(h, "/incident 一般 考生迟到", confirm=word)
    assert "已记录事件" in out and len(today_incidents(h)) == 1


def test_same_confirmation_words_confirm_a_report(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, f"/report {FULL}")
    assert "日报（第 1 版" in h.text(CHIEF, "好的")


def test_cancel_or_other_text_stores_nothing(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, "/incident 重大 考场停电")
    assert "请回复“确认”" in h.text(CHIEF, "嗯嗯")
    assert "已取消" in h.text(CHIEF, "取消")
    assert not today_incidents(h) and not h.outbox


def test_incident_refused_for_unbound_user_and_without_description(h: Harness) -> None:
    assert "还没有绑定考点" in h.text(STRANGER, "/incident 重大 考场停电")
    h.bind(CHIEF)
    assert "请写明事件经过" in h.text(CHIEF, "/incident 重大 措施=已报警")


# ---------------------------------------------------------------------------- versions
def test_correction_is_a_new_version_and_keeps_the_first(h: Harness) -> None:
    h.bind(CHIEF)
    report(h, "/incident 一般 考生携带手机 考场=03 措施=已收缴")
    n = number(h)
    echo, out = report(h, f"/incident 更正 较大 考生携带手机并有作弊嫌疑 #{n}")
    assert "更正事件" in echo and "【较大】考生携带手机并有作弊嫌疑" in echo
    assert "第 2 版" in out
    (inc,) = today_incidents(h)
    assert (inc.id, inc.version, inc.level, inc.room) == (n, 2, "较大", "03")
    assert (inc.description, inc.measures) == ("考生携带手机并有作弊嫌疑", "已收缴")
    assert rows(h) == 2  # the first version is kept


def test_withdrawal_is_a_version_and_leaves_the_lists(h: Harness) -> None:
    h.bind(CHIEF)
    report(h, "/incident 一般 误报：考生携带手机")
    n = number(h)
    echo, out = report(h, f"/incident 撤回 {n}")
    assert "确认撤回事件" in echo and "已撤回事件" in out
    assert not today_incidents(h) and rows(h) == 2
    (entry,) = svc(h).incident_thread(n)
    assert entry.withdrawn
    assert "已撤回" in h.text(CHIEF, f"/incident 更正 #{n} 一般 新经过")
    assert "零报告（第 1 版" in h.text(CHIEF, "/zero")  # a withdrawn incident does not count
    assert not h.outbox  # a 一般 incident and its withdrawal stay at the site


def test_withdrawal_and_correction_of_a_serious_incident_reach_the_coordinators(
    h: Harness,
) -> None:
    h.bind(CHIEF)
    report(h, "/incident 重大 考场停电")
    n = number(h)
    report(h, f"/incident 更正 #{n} 一般 考场短暂停电，已恢复")
    report(h, f"/incident 撤回 #{n}")
    alert, correction, withdrawal = (r.text for r in h.outbox)
    assert "【重大事件】" in alert and f"#{n} 更正" in correction and f"#{n} 撤回" in withdrawal


def test_followups_are_linked_and_the_final_report_closes(h: Harness) -> None:
    h.bind(CHIEF)
    report(h, "/incident 重大 考生突发疾病晕倒")
    n = number(h)
    _, out = report(h, f"/incident 续报 #{n} 已送医，家长已到")
    assert "续报" in out and "处置中" in out
    _, out = report(h, "/incident 终报 考生无大碍，考试秩序正常")  # no number: the open one
    assert "终报" in out and "已处置" in out
    thread = svc(h).incident_thread(n)
    assert [e.stage for e in thread] == ["首报", "续报", "终报"]
    assert {e.thread_id for e in thread} == {n} and {e.status for e in thread} == {"已处置"}
    assert today_incidents(h)[0].status == "已处置"
    assert "已终报" in h.text(CHIEF, f"/incident 续报 #{n} 又有情况")
    updates = [r.text for r in h.outbox if r.chat_id == COORDINATOR_CHAT]
    assert len(updates) == 3 and "续报" in updates[1] and "终报" in updates[2]


def test_followup_errors(h: Harness) -> None:
    h.bind(CHIEF)
    h.bind(OTHER_CHIEF, "002", "BBB222")
    assert "没找到要续报的事件" in h.text(CHIEF, "/incident 续报 已处理")
    report(h, "/incident 一般 考生迟到")
    n = number(h)
    assert "请写明续报内容" in h.text(CHIEF, f"/incident 续报 #{n}")
    assert f"找不到事件 #{n}" in h.text(OTHER_CHIEF, f"/incident 撤回 #{n}")
    assert "找不到事件 #999" in h.text(CHIEF, "/incident 更正 #999 一般 经过")


# ---------------------------------------------------------------------------- 招生办
def test_one_tap_acknowledgement_tells_the_reporter(h: Harness) -> None:
    h.bind(CHIEF)
    report(h, "/incident 特别重大 保密室试卷袋封条破损")
    n = number(h)
    (alert,) = h.outbox
    assert alert.chat_id == COORDINATOR_CHAT and f"#{n}" in alert.text
    assert svc(h).outbox.notices()[-1].kind == "escalation"
    with svc(h).db.read() as s:  # the button travels with the notice
        choices = s.scalar(sa.text("SELECT choices FROM notices ORDER BY id DESC LIMIT 1"))
    assert choices == f"确认收到 #{n}"
    tap = Message(COORDINATOR, COORDINATOR_CHAT, f"确认收到 #{n}", "李主任", False, tapped=True)
    (done,) = h.core.handle(tap)
    assert "已确认收到事件" in done.text
    receipt = h.outbox[-1]
    assert receipt.chat_id == CHIEF and "招生办已收到" in receipt.text and "李主任" in receipt.text
    assert "已由 李主任" in "\n".join(r.text for r in h.core.handle(tap))
    assert len(h.outbox) == 2  # the reporter is told once
    inc = today_incidents(h)[0]
    assert inc.acknowledged_name == "李主任" and inc.acknowledged_at is not None


def test_acknowledgement_refusals(h: Harness) -> None:
    h.bind(CHIEF)
    report(h, "/incident 重大 考场停电")
    n = number(h)
    tap = Message(CHIEF, COORDINATOR_CHAT, f"确认收到 #{n}", "张", False, tapped=True)
    assert "仅限招生办" in h.core.handle(tap)[0].text
    assert "仅限招生办" in h.text(CHIEF, f"/ack {n}")
    assert "用法：/ack" in h.text(COORDINATOR, "/ack abc")
    assert "找不到" in h.text(COORDINATOR, "/ack 999")
    assert "已确认收到" in h.text(COORDINATOR, f"/ack #{n}")


def test_acknowledge_incident_service_api(h: Harness) -> None:
    h.bind(CHIEF)
    report(h, "/incident 重大 考场停电")
    n = number(h)
    report(h, f"/incident 续报 #{n} 已恢复供电")
    follow = svc(h).incident_thread(n)[1].id
    view = svc(h).acknowledge_incident(follow, COORDINATOR, "网页用户")
    assert view.id == n and view.acknowledged_name == "网页用户"
    assert [e.acknowledged_name for e in svc(h).incident_thread(n)] == ["网页用户"] * 2
    assert any(r.chat_id == CHIEF and "招生办已收到" in r.text for r in h.outbox)


# ---------------------------------------------------------------------------- photos
def test_photo_is_kept_in_the_data_dir_and_listed_in_exports(h: Harness) -> None:
    h.bind(CHIEF)
    report(h, "/incident 一般 考生携带手机")
    n = number(h)
    out = photo(h, CHIEF)
    assert f"照片已附在事件 #{n}" in out and "共 1 张" in out
    (path,) = today_incidents(h)[0].photos
    assert path.startswith("attachments/001/")
    assert (h.services.settings.data_dir / path).read_bytes() == JPEG
    day = svc(h).today()
    (row,) = export.incident_rows(svc(h), day, day)
    assert row[export.INCIDENT_HEADER.index("照片")] == path
    assert row[export.INCIDENT_HEADER.index("状态")] == "处置中"
    assert "共 2 张" in photo(h, CHIEF, caption=f"#{n}", data=JPEG + b"2", mime="image/png")


def test_photo_refusals(h: Harness) -> None:
    assert "没有可以附加的地方" in photo(h, STRANGER)
    h.bind(CHIEF)
    assert "还没有事件" in photo(h, CHIEF)
    report(h, "/incident 一般 考生携带手机")
    assert "只能附加照片" in photo(h, CHIEF, mime="application/pdf")
    assert "找不到事件 #999" in photo(h, CHIEF, caption="#999")
    assert not (h.services.settings.data_dir / "attachments").exists() or not any(
        (h.services.settings.data_dir / "attachments").rglob("*.pdf")
    )


# ---------------------------------------------------------------------------- zero, then incident
def test_zero_report_then_incident_asks_for_a_corrected_report(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, "/zero")
    h.text(CHIEF, "/incident 一般 考生携带手机")
    (saved,) = h.say(CHIEF, "确认")
    assert "已报零报告" in saved.text and saved.choices == ["填写日报", "稍后"]
    day = svc(h).today()
    assert svc(h).zero_then_incident(day) == {"001"}
    assert "应考人数" in h.text(CHIEF, "填写日报")  # the guided report opens
    h.text(CHIEF, "/cancel")
    h.text(CHIEF, f"/report {FULL}")
    h.text(CHIEF, "确认")
    assert svc(h).zero_then_incident(day) == set()


def test_zero_then_incident_later(h: Harness) -> None:
    h.bind(CHIEF)
    h.text(CHIEF, "/zero")
    report(h, "/incident 一般 考生携带手机")
    assert "/report" in h.text(CHIEF, "稍后")
    assert svc(h).zero_then_incident(svc(h).today()) == {"001"}
    h.text(CHIEF, f"/report {FULL}")
    h.text(CHIEF, "确认")
    # once corrected, the old button is no longer an action
    tap = Message(CHIEF, CHIEF, "填写日报", "张", tapped=True)
    assert "已过期" in h.core.handle(tap)[0].text


# ---------------------------------------------------------------------------- zero report in words
@pytest.mark.parametrize(
    "said", ["零报告", "今日考务正常，无异常", "今天一切正常", "本考点无异常情况。"]
)
def test_free_text_zero_report_is_offered_and_stored_on_one_tap(h: Harness, said: str) -> None:
    h.bind(CHIEF)
    (offer,) = h.say(CHIEF, said)
    assert "要提交" in offer.text and "零报告" in offer.text and offer.choices == ["确认", "取消"]
    assert not svc(h).current_reports(svc(h).today())
    assert "零报告（第 1 版" in h.text(CHIEF, "确认")


@pytest.mark.parametrize(
    "said", ["零报告怎么报？", "今天一切正常吗", "3号考场考生携带手机，其他正常"]
)
def test_questions_and_events_are_not_taken_as_zero_reports(h: Harness, said: str) -> None:
    h.bind(CHIEF)
    replies = h.say(CHIEF, said)
    assert not any("要提交" in r.text for r in replies)
    assert not svc(h).current_reports(svc(h).today())


def test_zero_offer_cancelled_or_from_unbound_user(h: Harness) -> None:
    assert not any("要提交" in r.text for r in h.say(STRANGER, "今天一切正常"))
    h.bind(CHIEF)
    h.text(CHIEF, "今天一切正常")
    assert "已取消" in h.text(CHIEF, "取消")
    assert not svc(h).current_reports(svc(h).today())


def test_expired_button_says_so(h: Harness) -> None:
    tap = Message(CHIEF, CHIEF, "确认", "张", tapped=True)
    (reply,) = h.core.handle(tap)
    assert reply == Reply(reply.text) and "已过期" in reply.text
