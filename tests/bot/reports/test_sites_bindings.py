"""Sites files with Chinese or English headers, generated and hashed join codes, the limit on
wrong codes, bindings listed, unbinding and the notice on a second binding; on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.reports.service import SiteImportError
from bot.store.models import Site
from tests.bot.reports.harness import COORDINATOR_CHAT, Harness

CHIEF, OTHER, THIRD = 101, 102, 103


def test_chinese_headers_in_any_order_and_generated_codes(h: Harness) -> None:
    assert h.services.reports is not None
    svc = h.services.reports
    result = svc.import_sites_text("区县,考点名称,加入码,考点代码\n城区,第九中学考点,,009\n"
                                   "开发区,第十中学考点,Ten-1010,010\n")  # fmt: skip
    assert (result.added, result.updated) == (2, 0)
    assert list(result.generated) == ["009"]  # only the blank one was generated
    code = result.generated["009"]
    assert len(code) == 6 and code.isalnum()
    assert "已绑定" in h.text(CHIEF, f"/bind 009 {code.lower()}")  # case-insensitive
    assert "已绑定" in h.text(
        OTHER, "/bind 010 ｔｅｎ－１０１０"
    )  # full-width, as typed on a phone
    # re-import with the code left blank keeps it
    again = svc.import_sites_text("代码,名称\n009,第九中学考点\n")
    assert (again.added, again.updated, again.generated) == (0, 0, {})
    assert "已绑定" in h.text(THIRD, f"/bind 009 {code}")


def test_english_headers_and_a_header_without_names_is_refused(h: Harness) -> None:
    assert h.services.reports is not None
    svc = h.services.reports
    assert svc.import_sites("name,code,join_code\n第十一中学,011,ELEVEN11\n") == (1, 0)
    with pytest.raises(SiteImportError, match="表头应含 考点代码 和 考点名称"):
        svc.import_sites("编号,学校\n1,2\n")


def test_join_codes_are_stored_hashed(h: Harness) -> None:
    assert h.services.reports is not None
    with h.services.reports.db.read() as s:
        site = s.scalars(select(Site).where(Site.code == "001")).one()
        assert site.join_code == "" and "AAA111" not in site.join_hash and len(site.join_hash) == 64
    assert h.services.reports.join_codes() == []


def test_at_most_five_wrong_codes_an_hour_even_after_a_restart(h: Harness) -> None:
    for _ in range(3):
        assert "考点代码或加入码不对" in h.text(CHIEF, "/bind 001 WRONG1")
    h = h.restart()  # the count is in the database
    for _ in range(2):
        assert "考点代码或加入码不对" in h.text(CHIEF, "/bind 001 WRONG1")
    out = h.text(CHIEF, "/bind 001 AAA111")  # even the right code is not checked now
    assert "错误已达 5 次" in out and "60 分钟后再试" in out
    assert "还没有绑定考点" in h.text(CHIEF, "/zero")
    assert "已绑定" in h.text(OTHER, "/bind 001 AAA111")  # other users are not affected
    h.clock.set("2027-06-07 10:01")
    assert "已绑定" in h.text(CHIEF, "/bind 001 AAA111")
    h.services.close()


def test_second_binding_notifies_the_office_and_unbind(h: Harness) -> None:
    h.bind(CHIEF)
    assert h.outbox == []
    h.bind(OTHER)
    notices = [r for r in h.outbox if r.chat_id == COORDINATOR_CHAT]
    assert len(notices) == 1 and "001 第一中学考点" in notices[0].text
    assert "此前已绑定：用户101" in notices[0].text and f"--user {OTHER}" in notices[0].text
    assert h.services.reports is not None
    svc = h.services.reports
    assert [c.user_id for c in svc.bindings()["001"]] == [CHIEF, OTHER]
    gone = svc.unbind("001", OTHER)
    assert [c.user_id for c in gone] == [OTHER]
    assert "还没有绑定考点" in h.text(OTHER, "/zero")
    assert "零报告" in h.text(CHIEF, "/zero")
    svc.unbind("001")
    assert "还没有绑定考点" in h.text(CHIEF, "/zero")
    from bot.reports.service import ReportError

    with pytest.raises(ReportError, match="当前没有绑定"):
        svc.unbind("001")
    with pytest.raises(ReportError, match="没有考点代码为 999"):
        svc.unbind("999")
