"""Evidence units: single sentences, list items quoted with their lead-in, headings left out."""

from __future__ import annotations

from pathlib import Path

from ingest.chunk import chunk_text
from ingest.pipeline import prepare
from knowledge.units import ELISION, build_units

LAW = (
    "第二十七条 考生应当遵守考场规则。\n"
    "第二十八条 考生有下列行为之一的，应当认定为考试作弊：\n"
    "（一）携带与考试内容相关的材料的；\n"
    "（二）携带具有发送或者接收信息功能的设备的；\n"
    "（三）由他人冒名代替参加考试的。\n"
    "第二十九条 考点应当设置保密室。"
)


def _units(text: str) -> list[str]:
    return [u.quote for u in build_units("考试条例", chunk_text(text, max_chars=120))]


def test_list_item_is_quoted_with_its_lead_in() -> None:
    quotes = _units(LAW)
    item = next(q for q in quotes if "发送或者接收信息" in q)
    assert item.startswith("第二十八条 考生有下列行为之一的，应当认定为考试作弊：")
    assert item.endswith("（二）携带具有发送或者接收信息功能的设备的；")
    assert ELISION in item  # item (一) lies between the lead-in and this item
    first = next(q for q in quotes if "相关的材料" in q)
    assert ELISION not in first  # the first item follows the lead-in directly


def test_an_article_that_is_only_a_lead_in_still_leads_its_items() -> None:
    """When the articles are numbered from the first, each is a section of its own, and an
    article that is only the line introducing its list must still be quoted with each item."""
    text = (
        "第一条 为了规范国家教育考试，制定本条例。\n"
        "第二条 考生有下列行为之一的，应当认定为考试作弊：\n"
        "（一）携带与考试内容相关的材料的；\n"
        "（二）携带具有发送或者接收信息功能的设备的。\n"
        "第三条 考点应当设置保密室。"
    )
    quotes = _units(text)
    item = next(q for q in quotes if "发送或者接收信息" in q)
    assert item == (
        "第二条 考生有下列行为之一的，应当认定为考试作弊：……（二）携带具有发送或者接收信息功能的设备的。"
    )
    assert next(q for q in quotes if "保密室" in q) == "第三条 考点应当设置保密室。"


def test_lead_in_stops_governing_after_the_list() -> None:
    quotes = _units(LAW)
    after = next(q for q in quotes if "保密室" in q)
    assert after == "第二十九条 考点应当设置保密室。"


def test_a_notice_intro_does_not_lead_the_lists_under_its_headings() -> None:
    """ "现将有关安排通知如下：" introduces the whole notice; the numbered items under
    "一、考务人员安排" are that heading's, and are quoted alone."""
    text = (
        "为做好考务工作，现将有关安排通知如下：\n"
        "一、考务人员安排\n"
        "1.全体考务人员须于6月6日下午参加考务培训，不得请假。\n"
        "2.监考员须于每场考试开考前40分钟到考务办公室签到。\n"
        "二、考生入场\n"
        "考生凭准考证、身份证经安检后进入考场。"
    )
    quotes = _units(text)
    assert "2.监考员须于每场考试开考前40分钟到考务办公室签到。" in quotes
    assert not any("通知如下" in q and "签到" in q for q in quotes)


def test_lead_in_runs_back_over_semicolon_clauses() -> None:
    text = (
        "第四十八条 违反本法规定，有下列行为之一的，依法给予处分；构成犯罪的，依法追究刑事责任：\n"
        "（一）非法获取、持有国家秘密载体的；\n"
        "（二）在私人交往和通信中涉及国家秘密的；"
    )
    item = next(q for q in _units(text) if "私人交往" in q)
    assert item.startswith("第四十八条 违反本法规定，有下列行为之一的，依法给予处分；")


def test_headings_are_not_units_and_offsets_point_at_the_text() -> None:
    text = "一、岗位职责\n主考对考点的全部考务工作负总责。\n二、试卷安全\n保密室应设在二楼或以上。"
    units = build_units("手册", chunk_text(text, max_chars=120))
    assert [u.quote for u in units] == [
        "主考对考点的全部考务工作负总责。",
        "保密室应设在二楼或以上。",
    ]
    for u in units:
        assert text[u.start : u.end] == u.quote
        assert u.quote in u.embed
    assert units[0].embed.startswith("一、岗位职责\n")  # the top-level heading gives context


def test_a_lead_in_is_quoted_only_with_what_it_announces() -> None:
    """A lead-in ("现将有关事项通知如下：", "下列行为应当认定为考试作弊：") answers nothing alone:
    it is never a unit of its own, while an unnumbered sentence right after it is quoted
    with it."""
    text = (
        "为确保高考平稳有序，现将有关事项通知如下：\n"
        "一、考生入场\n"
        "考生进入考场只准携带下列物品：\n"
        "2B铅笔、黑色字迹签字笔、橡皮和直尺。\n"
        "开考15分钟后考生不得进入考场。"
    )
    quotes = _units(text)
    assert not any(q.endswith("：") for q in quotes), quotes
    assert "考生进入考场只准携带下列物品：2B铅笔、黑色字迹签字笔、橡皮和直尺。" in quotes
    assert "开考15分钟后考生不得进入考场。" in quotes  # only the next sentence joins
    assert not any("通知如下" in q for q in quotes)
    # the law's items still carry their lead-in, which is not quoted alone
    law = _units(LAW)
    assert not any(q.endswith("认定为考试作弊：") for q in law)
    assert sum(q.startswith("第二十八条 考生有下列行为之一的") for q in law) == 3


def test_a_sentence_broken_over_lines_is_quoted_whole() -> None:
    """A space typed as a pause, a <br> or a Word line break can cut a sentence in two: the
    second half alone ("考生方可交卷离场。") would drop its condition."""
    from ingest.clean import clean_text

    raw = (
        "关于2025年高考考生须知\n"
        "各位考生：为确保高考顺利进行，现将考试有关事项告知如下，请认真阅读并遵照执行。\n"
        "开考15分钟后 考生不得进入考场。考试结束前30分钟 考生方可交卷离场。\n"
        "考生进入考场后\n应当对号入座\n将准考证放在桌面左上角。\n"
        "一、违纪处理\n考生违反考场纪律的\n由监考员当场记录。\n"
        "监考员由考点学校推荐，\n经招生办审核后上岗。"
    )
    text = clean_text(raw).text
    units = build_units("须知", chunk_text(text, max_chars=120))
    quotes = [u.quote for u in units]
    assert "开考15分钟后 考生不得进入考场。" in quotes
    assert "考试结束前30分钟 考生方可交卷离场。" in quotes
    assert "考生进入考场后 应当对号入座 将准考证放在桌面左上角。" in quotes
    assert "考生违反考场纪律的 由监考员当场记录。" in quotes  # the heading stays apart
    assert "监考员由考点学校推荐，经招生办审核后上岗。" in quotes  # no space after a comma
    for u in units:  # offsets still span the source text
        assert text[u.start : u.end].replace("，\n", "，").replace("\n", " ") == u.quote


def test_broken_lines_never_run_into_an_item_or_over_a_long_line() -> None:
    text = (
        "一、考场规则\n"
        "考生应当遵守下列规定\n"
        "（一）按时进入考场；\n"
        "（二）服从监考员管理。\n"
        "监考员应当在开考前核对每一名考生的准考证和身份证件并在考场记录表上签字确认无误后开始发卷\n"
        "考场内应当保持安静。"
    )
    quotes = _units(text)
    assert "（一）按时进入考场；" in quotes and "（二）服从监考员管理。" in quotes
    assert "考场内应当保持安静。" in quotes  # a long line without a full stop is a paragraph


def test_short_list_entries_are_quoted_with_their_lead_in() -> None:
    """List entries are often a word or two ("（一）警告；", "（二）橡皮"), with or without
    punctuation: each is quoted with its lead-in, while a heading over its own text is not."""
    law = _units("第十条 治安管理处罚的种类分为：\n（一）警告；\n（二）罚款；\n（三）行政拘留。")
    assert "第十条 治安管理处罚的种类分为：（一）警告；" in law
    assert f"第十条 治安管理处罚的种类分为：{ELISION}（二）罚款；" in law
    notice = _units(
        "一、考生入场\n考生进入考场时\n只准携带下列物品：\n（一）2B铅笔\n（二）橡皮\n"
        "二、考试时间\n具体时间以准考证为准。"
    )
    assert notice == [
        "考生进入考场时 只准携带下列物品：（一）2B铅笔",
        f"考生进入考场时 只准携带下列物品：{ELISION}（二）橡皮",
        "具体时间以准考证为准。",
    ]


def test_a_chunk_never_starts_inside_a_sentence_broken_over_lines() -> None:
    """Wherever the chunk size puts a chunk's end, the broken sentence stays in one chunk, so
    its second half is never quoted without its first."""
    text = (
        "考生应当自觉遵守考场纪律，服从监考员管理，不得以任何方式干扰他人答题。\n" * 3
        + "开考15分钟后\n考生不得进入考场。\n监考员应当认真履行职责。"
    )
    for size in range(60, 200, 10):
        quotes = [u.quote for u in build_units("须知", chunk_text(text, max_chars=size))]
        assert "开考15分钟后 考生不得进入考场。" in quotes, size
        assert "考生不得进入考场。" not in quotes, size


def test_a_line_with_nothing_below_it_is_quoted_not_taken_for_a_heading() -> None:
    """Notices list rules as bare numbered lines ("2.考生不得携带手机…" with no full stop) and
    give facts as numbered labels with their value ("二、考试地点：市一中"). Such a line is its
    section's whole text: it was dropped as a heading, so the rule could not be found."""
    text = (
        "为做好今年中考工作，现将有关事项通知如下。\n"
        "一、考试时间：6月20日至22日\n"
        "二、考生须知\n"
        "1.考生须携带准考证、身份证\n"
        "2.考生不得携带手机等通讯工具进入考场\n"
        "三、工作要求\n"
        "监考员须提前30分钟到达考点。\n"
        "四、其他\n"
        "第五章 附则"
    )
    quotes = _units(text)
    assert "一、考试时间：6月20日至22日" in quotes
    assert "1.考生须携带准考证、身份证" in quotes
    assert "2.考生不得携带手机等通讯工具进入考场" in quotes
    # a heading over a body, over items, or a bare title with no words to quote, stays out
    assert not any(q.startswith(("二、考生须知", "三、工作要求", "四、其他")) for q in quotes)
    assert "第五章 附则" not in quotes
    assert "监考员须提前30分钟到达考点。" in quotes


def test_label_and_value_lines_are_not_joined_into_one_sentence() -> None:
    text = (
        "一、报名安排\n"
        "网上报名时间：8月25日至8月31日\n"
        "现场确认地点：各区县招生办\n"
        "考生只准携带：2B铅笔、\n"
        "橡皮和直尺。"
    )
    quotes = _units(text)
    assert "网上报名时间：8月25日至8月31日" in quotes
    assert "现场确认地点：各区县招生办" in quotes
    assert "考生只准携带：2B铅笔、橡皮和直尺。" in quotes  # broken after a comma: one sentence


def test_a_body_of_a_word_or_two_is_quoted_after_its_title() -> None:
    text = "一、考试时间\n6月7日至8日。\n二、考试地点\n市一中。\n三、其他\n无。"
    units = build_units("通知", chunk_text(text, max_chars=120))
    assert [u.quote for u in units] == ["6月7日至8日。", "二、考试地点 市一中。"]
    assert text[units[1].start : units[1].end] == "二、考试地点\n市一中。"


def test_lines_none_of_which_ends_a_sentence_are_a_list_not_one_sentence(tmp_path: Path) -> None:
    """A web page's <li>s and <p>s, or bulleted lines, often carry no full stop: each is a
    rule of its own and is quoted alone, while a sentence broken over lines still joins."""
    page = tmp_path / "须知.html"
    page.write_text(
        "<html><body><h1>2025年中考考生须知</h1>"
        "<p>为做好今年中考工作，现将考生须知告知如下，请考生认真阅读。</p>"
        "<h3>一、入场要求</h3><ul><li>考生须携带准考证和身份证</li>"
        "<li>考生不得携带手机进入考场</li><li>开考15分钟后不得入场</li></ul>"
        "<h3>二、离场要求</h3><p>考试结束前30分钟</p><p>考生方可交卷离场。</p>"
        "</body></html>",
        encoding="utf-8",
    )
    doc = prepare(page, page.name, "fp", 260)
    quotes = [u.quote for u in build_units(doc.title, doc.chunks)]
    assert "考生须携带准考证和身份证" in quotes
    assert "考生不得携带手机进入考场" in quotes
    assert "开考15分钟后不得入场" in quotes
    assert "考试结束前30分钟 考生方可交卷离场。" in quotes


def test_bulleted_entries_are_items_of_their_lead_in() -> None:
    quotes = _units(
        "一、考生入场\n考生只准携带下列物品：\n● 2B铅笔\n● 橡皮\n"
        "二、其他\n- 考试期间考点周边实行交通管制\n- 家长不得在考点门口聚集"
    )
    assert f"考生只准携带下列物品：{ELISION}● 橡皮" in quotes
    assert "- 考试期间考点周边实行交通管制" in quotes
    assert "- 家长不得在考点门口聚集" in quotes


def test_a_sentence_that_ends_with_as_follows_is_a_lead_in() -> None:
    """ "现将有关事项公告如下。" says only that something follows, like a colon: it was cited as
    the answer to questions the notice's points answer."""
    quotes = _units(
        "根据省考试院部署，现将我市成人高考报名有关事项公告如下。\n"
        "一、报名条件\n考生应具有高中毕业文化程度。\n"
        "二、注意事项\n考生须按时参加现场确认。"
    )
    assert quotes == ["考生应具有高中毕业文化程度。", "考生须按时参加现场确认。"]


def test_a_notice_signature_and_its_date_are_not_quoted() -> None:
    """The 落款 ("某县招生考试委员会办公室" / "2026年5月20日") states no rule; quoted, it was an
    "answer" that said nothing."""
    text = (
        "一、做好每日报告\n"
        "各考点每天考试结束后报告当天考务情况。\n"
        "某县招生考试委员会办公室\n"
        "2026年5月20日\n"
        "二〇二六年五月\n"
    )
    assert _units(text) == ["各考点每天考试结束后报告当天考务情况。"]


def test_a_rule_above_a_signature_is_still_quoted() -> None:
    """Only a date on a line of its own signs, with the name above it: a sentence that mentions
    a date is no date line, and the rule above the signature stays."""
    text = (
        "一、报名\n"
        "报名时间为2026年3月1日至10日。\n"
        "考生须在规定时间内完成网上确认。\n"
        "某县招生办公室\n"
        "2026年3月\n"
    )
    assert _units(text) == ["报名时间为2026年3月1日至10日。", "考生须在规定时间内完成网上确认。"]


def test_a_date_that_is_a_sections_content_is_still_quoted() -> None:
    """Under its section's title, a date on its own line is what the section says."""
    assert _units("一、考试时间\n2026年6月7日\n二、考试地点\n县第一中学。") == [
        "2026年6月7日",
        "二、考试地点 县第一中学。",
    ]


def test_a_long_lead_in_is_quoted_whole_and_embedded_by_its_end() -> None:
    """An article's lead-in can run over several clauses. Its first says whom the list is about
    and what happens to them, so each item quotes it whole; the item's vector keeps only the
    lead-in's last clauses, or every item of the article would look alike."""
    text = (
        "第七十九条 考生在国家教育考试中有下列行为之一的，由考试机构工作人员在考试现场采取必要"
        "措施予以制止并终止其继续参加考试；考试机构可以取消其相关考试资格或者考试成绩；情节严重"
        "的，由教育行政部门责令停止参加相关国家教育考试一年以上三年以下；构成违反治安管理行为的，"
        "由公安机关依法给予治安管理处罚：\n"
        "（一）非法获取考试试题或者答案的；\n"
        "（二）抄袭他人答案的。\n"
    )
    units = build_units("教育法", chunk_text(text, max_chars=400))
    item = next(u for u in units if "抄袭他人答案" in u.quote)
    assert item.quote.startswith("第七十九条 考生在国家教育考试中有下列行为之一的")
    assert "终止其继续参加考试" in item.quote
    assert item.quote.endswith("……（二）抄袭他人答案的。")
    assert "终止其继续参加考试" not in item.embed
    assert item.embed.endswith("由公安机关依法给予治安管理处罚：……（二）抄袭他人答案的。")
    # the lead-in is quoted with its items, not as a unit of its own, nor are its clauses
    assert not any(u.quote.endswith("治安管理处罚：") for u in units)
    assert all(u.quote.endswith("的；") or u.quote.endswith("的。") for u in units), units
    assert len(units) == 2
