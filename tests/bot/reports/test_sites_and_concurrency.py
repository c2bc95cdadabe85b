"""Sites import (all or nothing) and concurrent submissions from many sites."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.reports.service import SiteImportError
from tests.bot.reports.harness import Harness


def test_reimport_updates_and_never_duplicates(h: Harness) -> None:
    svc = h.services.reports
    assert svc is not None
    added, updated = svc.import_sites(
        "code,name,district,join_code\n001,第一中学考点（新址）,城区,AAA111\n004,第四中学考点,高新区,DDD444\n"
    )
    assert (added, updated) == (1, 1)
    assert [(s.code, s.name) for s in svc.sites()] == [
        ("001", "第一中学考点（新址）"), ("002", "第二中学考点"), ("003", "实验中学考点"),
        ("004", "第四中学考点"),
    ]  # fmt: skip


def test_bad_rows_reported_by_line_and_nothing_applied(h: Harness) -> None:
    svc = h.services.reports
    assert svc is not None
    text = (
        "code,name,district,join_code\n"
        "005,第五中学考点,城区,EEE555\n"  # valid, but must not be applied either
        "001,,城区,AAA111\n"
        "006,第六中学考点,城区,X,Y\n"
        "005,重复考点,城区,X\n"
    )
    with pytest.raises(SiteImportError) as err:
        svc.import_sites(text)
    assert err.value.problems == [
        "第 3 行缺少 考点名称",
        "第 4 行有 5 列，比表头多（表头 4 列）",
        "第 5 行考点代码 005 与前面重复",
    ]
    assert [s.code for s in svc.sites()] == ["001", "002", "003"]
    assert svc.sites()[0].name == "第一中学考点"


def test_wrong_header(h: Harness) -> None:
    assert h.services.reports is not None
    with pytest.raises(SiteImportError, match="表头应含"):
        h.services.reports.import_sites("编号,名称\n1,甲\n")


def test_concurrent_submissions_lose_nothing(h: Harness) -> None:
    svc = h.services.reports
    assert svc is not None
    n = 40
    rows = "".join(f"S{i:03d},考点{i},区{i % 5},J{i}\n" for i in range(n))
    svc.import_sites("code,name,district,join_code\n" + rows)
    for i in range(n):
        h.bind(1000 + i, f"S{i:03d}", f"J{i}")

    def site_day(i: int) -> None:
        user = 1000 + i
        h.text(user, f"/report 应考={100 + i} 实考={100 + i} 缺考=0 违纪=0 保密室=正常 设备=正常")
        h.text(user, "确认")
        if i % 4 == 0:
            h.text(user, f"/incident 一般 考点{i}的一起小事件")
            h.text(user, "确认")
        if i % 4:
            h.text(user, "/zero")  # a second version, racing the other sites

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(site_day, range(n)))
    # and one site hammered by parallel versions of its own report
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: h.text(1001, "/zero"), range(16)))

    day = svc.today()
    current = svc.current_reports(day)
    assert len([k for k in current if k[0].startswith("S")]) == n
    assert len(svc.incidents(day)) == n // 4
    versions = [v.version for v in svc.versions(1001)]
    assert sorted(versions) == list(range(1, len(versions) + 1))  # unique and contiguous
    assert len(versions) == 2 + 16  # the confirmed report, its zero report, 16 more
