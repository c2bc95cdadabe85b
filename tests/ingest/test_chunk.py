"""Outline detection and chunk metadata."""

from __future__ import annotations

from pathlib import Path

from ingest.chunk import chunk_text, cn_number, outline
from ingest.clean import clean_text
from ingest.loaders import load

NESTED = (
    "开场白，说明会议目的。\n"
    "一、总体要求\n"
    "各考点要按规定组织考试。统一是原则，不是口号。\n"
    "二、具体安排\n"
    "安排如下：一是做好培训。培训要覆盖全体监考员。二是做好检查。检查分三轮进行。\n"
    "（一）考前检查\n"
    "考前一天完成检查。\n"
    "（二）考中巡查\n"
    "考试期间每场巡查两次。3.5小时内完成交接。\n"
    "三、纪律要求\n"
    "严禁迟到早退。"
)


def _paths(text: str) -> list[str]:
    return [" > ".join(p) for _, p, _ in outline(text)]


def test_numerals() -> None:
    assert cn_number("十二") == 12
    assert cn_number("二十") == 20
    assert cn_number("三") == 3
    assert cn_number("②") == 2
    assert cn_number("7") == 7


def test_nested_outline_paths() -> None:
    assert _paths(NESTED) == [
        "",
        "一、总体要求",
        "二、具体安排",
        "二、具体安排 > 一是做好培训",
        "二、具体安排 > 二是做好检查",
        "二、具体安排 > 二是做好检查 > （一）考前检查",
        "二、具体安排 > 二是做好检查 > （二）考中巡查",
        "三、纪律要求",
    ]


def test_no_false_markers_inside_sentences() -> None:
    labels = [p for _, path, _ in outline(NESTED) for p in path]
    assert not any(lbl.startswith("一是原则") for lbl in labels)  # "统一是原则" is not a marker
    assert not any(lbl.startswith("3.") for lbl in labels)  # "3.5小时" is not item 3


def test_articles_continue_across_chapters() -> None:
    text = "第一章 总则\n第一条 目的。\n第二条 范围。\n第二章 考务\n第三条 监考员职责。\n第四条 主考职责。"
    paths = _paths(clean_text(text).text)
    assert "第二章 考务 > 第三条 监考员职责" in paths
    assert "第一章 总则 > 第二条 范围" in paths


def test_excerpts_gaps_and_inserted_articles_still_open_articles() -> None:
    # An excerpt starts anywhere, a scraped page lost 第二百八十二条, an amendment inserted 之一.
    text = (
        "第二百八十条 伪造公文的，处三年以下有期徒刑。\n"
        "第二百八十条之一 冒用身份证件的，处拘役。\n"
        "第二百八十一条 非法生产警用装备的，处罚金。\n"
        "第二百八十三条 非法销售窃听器材的，处三年以下有期徒刑。\n"
        "依照本法第二百八十条的规定处罚。\n"
        "第二百八十四条之一 在法律规定的国家考试中，组织作弊的，处三年以下有期徒刑。"
    )
    assert _paths(text) == [
        "第二百八十条 伪造公文的",
        "第二百八十条之一 冒用身份证件的",
        "第二百八十一条 非法生产警用装备的",
        "第二百八十三条 非法销售窃听器材的",
        "第二百八十四条之一 在法律规定的国家考试中",
    ]
    # A reference inside a paragraph, or going back, is not an article of its own.
    cited = next(c for c in chunk_text(text) if "依照本法" in c.text)
    assert cited.section_path == "第二百八十三条 非法销售窃听器材的"

    # A scraped page that runs the number into the text and lost an article on the way.
    run_on = "第五十一条县级政府应当配备急救力量。\n第五十三条红十字会应当提供救助。\n第五十三条规定的救助应当及时。"
    paths = _paths(run_on)
    assert paths == ["第五十一条 县级政府应当配备急救力量", "第五十三条 红十字会应当提供救助"]


def test_sections_restart_in_each_chapter() -> None:
    text = (
        "第一章 总则\n第一节 目的\n第一条 目的。\n第二节 范围\n第二条 范围。\n"
        "第二章 考务\n第一节 监考\n第三条 监考员职责。"
    )
    paths = _paths(text)
    assert "第二章 考务 > 第一节 监考 > 第三条 监考员职责" in paths


def test_a_paragraph_after_a_list_belongs_to_the_article_not_the_last_item() -> None:
    text = (
        "第五十条 有下列行为之一的，处警告或者二百元以下罚款：\n"
        "（一）拒不执行紧急状态下的决定的；\n"
        "（二）阻碍执行职务的。\n"
        "阻碍人民警察依法执行职务的，从重处罚。\n"
        "第五十一条 冒充国家机关工作人员招摇撞骗的，处拘留。"
    )
    extra = next(c for c in chunk_text(text) if "从重处罚" in c.text)
    assert extra.section_path == "第五十条 有下列行为之一的"
    item = next(c for c in chunk_text(text) if "阻碍执行职务" in c.text)
    assert item.section_path.endswith("（二）阻碍执行职务的")


def test_a_list_inside_a_notice_point_ends_without_ending_the_points() -> None:
    """A notice's points ("通知如下：" then "一、…") often hold a list of their own. When that
    list ends, the points go on: "二、" must still open a section."""
    text = (
        "为做好考试工作，现将有关事项通知如下：\n"
        "一、考生入场\n考生只准携带下列物品：\n（一）2B铅笔；\n（二）橡皮；\n"
        "开考15分钟后考生不得进入考场。\n"
        "二、监考员职责\n监考员须于开考前40分钟签到。\n"
        "三、应急处置\n遇停电应立即报告。"
    )
    chunks = chunk_text(text)
    assert next(c for c in chunks if "开考15分钟后" in c.text).section_path == "一、考生入场"
    assert next(c for c in chunks if "签到" in c.text).section_path == "二、监考员职责"
    assert next(c for c in chunks if "停电" in c.text).section_path == "三、应急处置"


def test_the_last_of_a_list_of_bare_entries_is_an_entry_too() -> None:
    """Entries without punctuation ("（一）2B铅笔"): a paragraph after the last one is not its
    body, while a point that is a title after punctuated points keeps its paragraph."""
    text = (
        "一、考生入场\n考生只准携带下列物品：\n（一）2B铅笔\n（二）橡皮\n（三）直尺、圆规\n"
        "开考15分钟后考生不得进入考场。"
    )
    late = next(c for c in chunk_text(text) if "开考15分钟后" in c.text)
    assert late.section_path == "一、考生入场"
    notice = "现将有关事项通知如下：\n一、考试时间为6月7日。\n二、考试地点\n各县区考点另行通知。"
    where = next(c for c in chunk_text(notice) if "另行通知" in c.text)
    assert where.section_path == "二、考试地点"


def test_items_that_run_over_paragraphs_keep_them() -> None:
    # A speech's numbered points, introduced by a colon, each with paragraphs of their own.
    text = (
        "二、工作要求\n今年的要求如下：\n"
        "（一）加强领导。\n各地要成立领导小组。\n主要负责同志亲自抓。\n"
        "（二）严格保密。\n试卷全程监控。\n保密室双人值守。"
    )
    chunks = chunk_text(text, max_chars=20)
    assert next(c for c in chunks if "亲自抓" in c.text).section_path.endswith("（一）加强领导")
    assert next(c for c in chunks if "双人值守" in c.text).section_path.endswith("（二）严格保密")
    # A notice's points: the first one line, the second a title over its own paragraph.
    notice = "现将有关事项通知如下：\n一、考试时间为6月7日。\n二、考试地点\n各县区考点另行通知。"
    where = next(c for c in chunk_text(notice) if "另行通知" in c.text)
    assert where.section_path == "二、考试地点"


def test_markdown_headings_nest() -> None:
    text = "# 手册\n## 一、岗位\n### （一）主考\n主考负责。\n### （二）监考员\n监考员负责。\n## 二、报告\n每日报告。"
    paths = _paths(text)
    assert "手册 > 一、岗位 > （二）监考员" in paths
    assert paths[-1] == "手册 > 二、报告"


def test_chunks_carry_exact_offsets_and_sections() -> None:
    chunks = chunk_text(NESTED, max_chars=60)
    for c in chunks:
        assert NESTED[c.start : c.end].strip() == c.text
        assert len(c.text) <= 60 or "。" not in c.text[:-1]  # only a single long sentence overflows
    inspect = next(c for c in chunks if "考前一天" in c.text)
    assert inspect.section_path == "二、具体安排 > 二是做好检查 > （一）考前检查"
    assert "（一）考前检查" in inspect.context


def test_chunks_never_cross_a_section_start() -> None:
    starts = {pos for pos, _, _ in outline(NESTED)} - {0}
    for c in chunk_text(NESTED, max_chars=500):
        assert not any(c.start < s < c.end for s in starts), c


def test_seed_sections(seeds: Path) -> None:
    doc = clean_text(load(next(seeds.glob("003_*.txt"))).text)
    chunks = chunk_text(doc.text)
    rule = next(c for c in chunks if "不少于4人" in c.text)
    assert rule.section_path == "二、规范管理 > 三要认真落实各项安全保密制度"
    assert doc.text[rule.start : rule.end] == rule.text
    # 002 nests three marker kinds: 三、 > 二是 > 一要
    doc2 = clean_text(load(next(seeds.glob("002_*.txt"))).text)
    paths = {c.section_path for c in chunk_text(doc2.text)}
    assert "三、严格管理 > 二是要严格严肃考风考纪 > 一要进一步明确责任" in paths


def test_a_time_of_day_does_not_cut_an_item_label() -> None:
    text = (
        "一、考务培训\n1.全体考务人员须于下午3:00报到，不得请假。\n2.监考员须于开考前40分钟签到。"
    )
    labels = [c.section_path for c in chunk_text(text)]
    assert "一、考务培训 > 1.全体考务人员须于下午3:00报到" in labels


def test_a_section_that_is_only_its_line_is_marked_lone() -> None:
    """A numbered line with no body and no subsections ("1.考生须携带准考证") is content; the
    chunker says so, since only it knows what lies below a line."""
    text = "一、考生须知\n1.考生须携带准考证\n2.不得携带手机\n二、工作要求\n监考员须提前到达考点。"
    chunks = chunk_text(text, max_chars=120)
    lone = {c.text: c.lone for c in chunks}
    assert lone == {
        "1.考生须携带准考证": True,
        "2.不得携带手机": True,
        "二、工作要求\n监考员须提前到达考点。": False,
    }


NOTICE_WITH_ATTACHMENTS = (
    "为做好今年高考工作，现将有关事项通知如下。\n"
    "一、加强考务管理\n"
    "考务人员须经培训合格后上岗。\n"
    "二、做好每日报告\n"
    "各考点每天考试结束后报告当天考务情况。\n"
    "附件：1.考生须知\n"
    "2.监考员守则\n"
    "某县招生考试委员会办公室\n"
    "2026年5月20日\n"
    "附件1\n"
    "考生须知\n"
    "1.考生须持准考证和身份证参加考试。\n"
    "2.开考15分钟后不得入场。\n"
    "附件2：监考员守则\n"
    "1.监考员须佩戴监考证上岗。\n"
    "## 考后\n"
    "2.监考员清点答题卡后装袋密封。"
)


def test_an_attachment_is_a_part_of_its_own_with_its_title() -> None:
    """Rules in "附件1 考生须知" were cited under the notice's last section ("二、做好每日报告 >
    1.考生须持…"), and 附件2's rules under 附件1's last rule."""
    by_text = {c.text.split("\n")[0]: c.section_path for c in chunk_text(NOTICE_WITH_ATTACHMENTS)}
    assert (
        by_text["1.考生须持准考证和身份证参加考试。"]
        == "附件1 考生须知 > 1.考生须持准考证和身份证参加考试"
    )
    assert by_text["2.开考15分钟后不得入场。"] == "附件1 考生须知 > 2.开考15分钟后不得入场"
    assert by_text["1.监考员须佩戴监考证上岗。"] == "附件2：监考员守则 > 1.监考员须佩戴监考证上岗"
    # A heading inside an attachment stays inside it.
    assert by_text["## 考后"] == "附件2：监考员守则 > 考后"
    # An attachment's title line is its heading, not a passage of its own.
    assert "附件2：监考员守则" not in by_text
    # The notice's list of its attachments is not an attachment.
    assert by_text["1.考生须知"].startswith("二、做好每日报告")


def test_attachment_numbering_must_run_in_order() -> None:
    """An "附件3" with no 附件2 before it is a mention, not an attachment."""
    text = "一、总则\n考点按规定执行。\n附件3\n考点名单\n二、其他\n本通知自发布之日起施行。"
    assert "附件3 考点名单" not in _paths(text)


def test_a_bare_attachment_line_over_a_list_is_the_list_of_attachments() -> None:
    """A bare "附件：" (or "附件") over "1.考生须知" "2.监考员守则" lists what is attached; the
    real "附件1" below still opens the first attachment."""
    text = (
        "一、报告\n各考点每天报告考务情况。\n附件：\n1.考生须知\n2.监考员守则\n附件\n1.考生须知\n"
        "某县招生办\n附件1\n考生须知\n1.考生须持准考证参加考试。"
    )
    paths = _paths(text)
    assert paths[-1] == "附件1 考生须知 > 1.考生须持准考证参加考试"
    assert not any(p.startswith("附件 ") or p.startswith("附件：") for p in paths)
