"""One write path for reports and incidents under concurrency and oversized input, on SQLite
and PostgreSQL: a confirmed report is never lost, and limits are checked before the database."""

from __future__ import annotations

import threading

from bot.reports.limits import LIMITS
from tests.bot.reports.harness import COORDINATOR_CHAT, Harness

FULL = "应考=300 实考=298 缺考=2 违纪=0 保密室=双人值守 设备=正常"
USERS = (101, 102, 103, 104)


def _versions(h: Harness) -> list[int]:
    assert h.services.reports is not None
    return sorted(v.version for v in h.services.reports.versions(USERS[0]))


def test_four_people_confirming_for_one_site_at_once_are_all_stored(h: Harness) -> None:
    for user in USERS:
        h.bind(user)  # four people acting for site 001
    per_user = 15
    errors: list[str] = []
    start = threading.Barrier(len(USERS))

    def confirm(user: int) -> None:
        start.wait()
        for i in range(per_user):
            h.text(user, f"/report {FULL} 备注=第{user}-{i}份")
            out = h.text(user, "确认")
            if "已保存" not in out:
                errors.append(out)

    threads = [threading.Thread(target=confirm, args=(u,)) for u in USERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = per_user * len(USERS)
    assert _versions(h) == list(range(1, total + 1))  # every one stored, contiguous versions
    assert h.services.reports is not None
    remarks = {v.values["remarks"] for v in h.services.reports.versions(USERS[0])}
    assert len(remarks) == total


def test_oversized_remarks_refused_with_the_limit_and_nothing_stored(h: Harness) -> None:
    h.bind(101)
    huge = "备" * 100_000
    out = h.text(101, f"/report {FULL} 备注={huge}")
    assert f"「备注」最多 {LIMITS['remarks'].chars} 个字" in out and "100000" in out
    assert len(out) < 2_000  # the 100 KB is not echoed back
    assert "确认" not in out
    assert h.text(101, "确认") != "" and _versions(h) == []  # no confirmation pending: not stored


def test_remarks_at_the_limit_are_stored_whole(h: Harness) -> None:
    h.bind(101)
    exact = "注" * LIMITS["remarks"].chars
    h.text(101, f"/report {FULL} 备注={exact}")
    assert "已保存" in h.text(101, "确认")
    assert h.services.reports is not None
    (v,) = h.services.reports.versions(101)
    assert v.values["remarks"] == exact  # not cut short


def test_long_incident_description_and_room_refused_before_the_database(h: Harness) -> None:
    h.bind(101)
    out = h.text(101, "/incident 特别重大 " + "经" * 5_000 + " 考场=03")
    assert f"「事件经过」最多 {LIMITS['description'].chars} 个字" in out
    room = "第三考场东侧走廊尽头靠窗位置的临时备用考场编号零三" * 2
    out = h.text(101, f"/incident 特别重大 封条破损 考场={room}")
    assert f"「考场」最多 {LIMITS['room'].chars} 个字" in out
    assert h.services.reports is not None
    assert h.services.reports.incidents(h.services.reports.today()) == []
    assert h.outbox == []  # nothing stored, so no alert either
    h.text(101, "/incident 特别重大 封条破损 考场=03")  # corrected: stored and alerted
    assert "已同时报送招生办" in h.text(101, "确认")
    assert [r.chat_id for r in h.outbox] == [COORDINATOR_CHAT]


def test_guided_incident_step_over_the_limit_is_asked_again(h: Harness) -> None:
    h.bind(101)
    h.text(101, "/incident")
    h.text(101, "较大")
    h.text(101, "考生晕倒")
    out = h.text(101, "考" * 40)
    assert "「考场」最多 32 个字" in out
    h.text(101, "05")
    h.text(101, "无")
    assert "【较大】考生晕倒" in h.text(101, "已送医")
    assert "【较大】考生晕倒" in h.text(101, "确认")


def test_wrong_value_of_100kb_is_not_echoed_whole(h: Harness) -> None:
    h.bind(101)
    out = h.text(
        101, "/report 应考=" + "9" * 100_000 + " 实考=1 缺考=0 违纪=0 保密室=正常 设备=正常"
    )
    assert "「应考人数」应为不小于 0 的整数" in out and "…" in out and len(out) < 2_000
    out = h.text(101, "/incident " + "级" * 100_000 + " 经过")
    assert "「事件经过」最多" in out and len(out) < 2_000


def test_sites_file_over_a_column_limit_is_refused_by_line(h: Harness) -> None:
    assert h.services.reports is not None
    bad = "code,name,district,join_code\n004,好考点,城区,J4\n005," + "名" * 300 + ",城区,J5\n"
    try:
        h.services.reports.import_sites(bad)
    except ValueError as exc:
        assert "第 3 行" in str(exc) and "「考点名称」最多 200 个字" in str(exc)
    else:
        raise AssertionError("accepted a name over the limit")
    assert [s.code for s in h.services.reports.sites()] == ["001", "002", "003"]  # all or none


def test_unknown_command_of_100kb_is_not_echoed_whole(h: Harness) -> None:
    out = h.text(101, "/" + "x" * 100_000)
    assert "没有 /" in out and "…" in out and len(out) < 500
