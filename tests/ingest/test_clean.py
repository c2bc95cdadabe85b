"""Cleaning, on the real scraped seed documents and on small hand-written cases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.clean import clean_text, remove_watermarks, strip_pinyin
from ingest.loaders import load

PINYIN_LEFT = re.compile(r"[(?][a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+\)")
TRADITIONAL = set("會議開試務點網絡絕對強調歷責違紀場報")
DEBRIS = [
    "登录",
    "立即注册",
    "Copyright",
    "备案号",
    "ICP",
    "相关推荐",
    "秘书之家",
    "mishuzj",
    "显示全部楼层",
    "扫一扫",
    "付费下载",
    "本站",
    "回到顶部",
    "公众号",
    "网友上传",
    "粉丝",
]


@pytest.fixture(scope="module")
def cleaned(seeds: Path) -> dict[str, object]:
    return {p.stem[:3]: clean_text(load(p).text) for p in sorted(seeds.glob("*.txt"))}


def test_every_seed_keeps_its_body(cleaned: dict) -> None:
    for key, doc in cleaned.items():
        assert len(doc.text) > 800, key


def test_no_pinyin_annotation_survives(cleaned: dict) -> None:
    for key, doc in cleaned.items():
        assert not PINYIN_LEFT.search(doc.text), (key, PINYIN_LEFT.search(doc.text))


def test_corrupted_pinyin_form_removed_without_eating_neighbours(cleaned: dict) -> None:
    text = cleaned["000"].text
    assert "gòu" not in text and "qiáng" not in text and "?" not in text
    assert "进行再部署、再" in text and "再要求" in text


def test_real_parentheses_are_kept(cleaned: dict) -> None:
    assert "试(答)卷" in cleaned["003"].text
    assert "(12345热线)" in cleaned["001"].text
    assert "(6月7日至8日)" in cleaned["001"].text
    assert "(一)高考是维护教育公平的核心环节" in cleaned["004"].text


def test_traditional_converted_to_simplified(cleaned: dict) -> None:
    for key in ("000", "003"):
        text = cleaned[key].text
        assert not (set(text) & TRADITIONAL), (key, set(text) & TRADITIONAL)
    assert "保密室必须坚持24小时值班制度" in cleaned["003"].text


@pytest.mark.parametrize("phrase", DEBRIS)
def test_site_debris_removed(cleaned: dict, phrase: str) -> None:
    for key, doc in cleaned.items():
        assert phrase not in doc.text, (key, phrase)


def test_watermark_inside_a_word_is_cut_out_cleanly(cleaned: dict) -> None:
    text = cleaned["004"].text
    assert "对于家庭而言" in text  # the watermark had split 家|庭
    assert "市场监管部门" in text
    assert text.rstrip().endswith("应急…")  # the page's cut-off tail lost its partial watermark


def test_spacing_normalised_between_chinese_and_latin(cleaned: dict) -> None:
    text = cleaned["004"].text
    for phrase in ("1小时辟谣", "提前3个月", "AI作弊监测", "5G屏蔽仪", "2025年高考"):
        assert phrase in text
    assert "  " not in text


def test_lost_line_breaks_restored_before_headings(cleaned: dict) -> None:
    # 001 is one long line; headings were separated from the body only by spaces.
    lines = cleaned["001"].text.split("\n")
    assert "一、提高认识,准确把握当前招生考试形势" in lines


def test_titles_found_and_meta_lines_dropped(cleaned: dict) -> None:
    assert cleaned["000"].title == "2021年辽宁召开全省普通高校招生考试安全工作电视电话会议"
    assert cleaned["002"].title == "在全区中、高考保障工作会上的讲话"
    assert cleaned["003"].title == "市长中考工作会议讲话"
    assert cleaned["004"].title == "县长在全县高考考务工作会议上的讲话"
    assert cleaned["001"].title is None  # no title on the page: the file name is used instead
    assert "2021-05-12" not in cleaned["000"].text
    assert "时间:" not in cleaned["003"].text
    assert cleaned["003"].text.count("市长中考工作会议讲话") == 0


def test_pinyin_rules_on_small_cases() -> None:
    assert strip_pinyin("會(huì)議") == "會議"
    assert strip_pinyin("再?gòu)?qiáng)調") == "再調"
    assert strip_pinyin("采用(AI)技术") == "采用(AI)技术"
    assert strip_pinyin("試(答)卷") == "試(答)卷"
    assert strip_pinyin("见附件(a)") == "见附件(a)"  # no tone mark, not after a syllable
    assert strip_pinyin("我们(men)") == "我们"  # neutral tone


def test_watermark_needs_repetition() -> None:
    once = "联系网站 www.example.com 获取资料。"
    assert remove_watermarks(once)[0] == once
    text = "第一段甲站 www.x.cn内容。第二段乙甲站 www.x.cn其他。"
    assert remove_watermarks(text)[0] == "第一段内容。第二段乙其他。"


def test_an_article_number_stays_apart_from_its_text() -> None:
    text = clean_text(
        "第七十三条　明知校舍有危险，而不采取措施的，依法追究责任。\n"
        "第二百八十四条之一 在法律规定的国家考试中，组织作弊的，处三年以下有期徒刑。\n"
        "考生应当遵守考场规则，　不得携带手机。\n"
    ).text
    assert "第七十三条 明知校舍有危险" in text
    assert "第二百八十四条之一 在法律规定的国家考试中" in text
    assert "遵守考场规则，不得携带手机。" in text  # other spaces between Chinese are artefacts


def test_a_law_keeps_its_title_history_note_and_spaced_out_headings() -> None:
    raw = (
        "您好，欢迎来到法规速查网！\n中华人民共和国教育法\n\n"
        "（1995年3月18日　第八届全国人民代表大会第三次会议通过　2021年4月29日　"
        "第十三届全国人民代表大会常务委员会第二十八次会议第三次修正）\n\n"
        "# 第一章　总　　则\n\n第一条　为了发展教育事业，提高全民族的素质，制定本法。\n"
    )
    cleaned = clean_text(raw)
    assert cleaned.title == "中华人民共和国教育法"  # not the dated line of its history
    lines = cleaned.text.split("\n")
    assert lines[0].startswith("（1995年3月18日") and lines[0].endswith("第三次修正）")
    assert "# 第一章 总则" in lines
    assert "第一条 为了发展教育事业，提高全民族的素质，制定本法。" in lines
    assert "欢迎来到" not in cleaned.text


def test_a_notice_keeps_sentences_that_use_words_of_site_chrome() -> None:
    body = [
        "考生须登录省教育考试院网站，完成实名认证后打印准考证。",
        "成绩发布时间另行通知，考生可关注省教育考试院官方微信公众号查询。",
        "国家鼓励企业为考试安全提供技术支持和捐赠。",
    ]
    head = ["关于做好2026年高考考务工作的通知", "扫一扫 关注官方微信", "发布时间：2026-05-20"]
    raw = "\n".join([*head, *body, "技术支持：某某科技", "版权所有 某某网"])
    cleaned = clean_text(raw)
    assert all(line in cleaned.text.split("\n") for line in body)
    for chrome in ("扫一扫", "发布时间：", "技术支持：", "版权所有"):
        assert chrome not in cleaned.text


@pytest.mark.parametrize(
    "placeholder", ["(anonymous)", "untitled", "Microsoft Word - 附件1.docx", "1"]
)
def test_a_placeholder_in_document_properties_is_not_taken_for_the_title(
    placeholder: str,
) -> None:
    raw = "关于做好2026年高考考务工作的通知\n各考点：\n考生须提前三十分钟到达考点。\n"
    cleaned = clean_text(raw, title_hint=placeholder)
    assert cleaned.title == "关于做好2026年高考考务工作的通知"


def test_a_real_title_in_document_properties_is_kept() -> None:
    cleaned = clean_text(
        "第一条 为了保守国家秘密，制定本法。\n", title_hint="中华人民共和国保守国家秘密法"
    )
    assert cleaned.title == "中华人民共和国保守国家秘密法"


def test_a_letter_spaced_line_is_one_sentence() -> None:
    """Some PDFs justify text by spacing letters: the text layer has a space after each one."""
    raw = (
        "关于做好2026年高考考务工作的通知\n"
        "一、考 生 须 在 每 科 开 考 前 3 0 分 钟 凭 准 考 证 进 入 考 场 ， 迟 到 考 生 按 规 定 处 理 。\n"
        "第 三 条　监 考 员 不 得 携 带 手 机 进 入 考 场 。\n"
    )
    lines = clean_text(raw).text.split("\n")
    assert lines == [
        "一、考生须在每科开考前30分钟凭准考证进入考场，迟到考生按规定处理。",
        "第三条 监考员不得携带手机进入考场。",
    ]


def test_a_stray_space_before_punctuation_does_not_cut_the_sentence() -> None:
    raw = (
        "关于做好2026年高考考务工作的通知\n"
        "一、考生须在每科开考前30分钟凭准考证进入考场 。\n"
        "二 、监考员不得携带手机进入考场 ，手机统一存放在考务办公室 。\n"
    )
    assert clean_text(raw).text.split("\n") == [
        "一、考生须在每科开考前30分钟凭准考证进入考场。",
        "二、监考员不得携带手机进入考场，手机统一存放在考务办公室。",
    ]


def test_a_pause_space_in_a_line_without_a_full_stop_does_not_split_it() -> None:
    """Bare rules and contact lines often have no full stop: a space in them is a pause, and
    splitting there quoted "考生不得进入考场" without "开考15分钟后"."""
    raw = (
        "关于做好2026年高考考务工作的通知\n"
        "一、考生须知\n"
        "开考15分钟后 考生不得进入考场\n"
        "县招生办 张老师 13800000000\n"
        "二、其他\n"
        "本通知由县招生办负责解释 各考点：请遵照执行。\n"
    )
    assert clean_text(raw).text.split("\n") == [
        "一、考生须知",
        "开考15分钟后考生不得进入考场",
        "县招生办张老师13800000000",
        "二、其他",
        "本通知由县招生办负责解释",
        "各考点：请遵照执行。",
    ]


def test_a_short_lead_in_before_the_first_heading_is_kept() -> None:
    raw = (
        "关于做好2026年高考考务工作的通知\n"
        "各考点：\n"
        "为确保高考平稳有序，现将有关事项通知如下：\n"
        "一、考务人员\n"
        "监考员须于开考前40分钟到考务办公室签到。\n"
    )
    lines = clean_text(raw).text.split("\n")
    assert lines[0] == "为确保高考平稳有序，现将有关事项通知如下："
    assert "各考点：" not in lines  # the addressee is still a meta line


@pytest.mark.parametrize(
    "page_title",
    [
        "关于做好2026年高考考务工作的通知_某某县教育局",
        "某某县教育局 - 关于做好2026年高考考务工作的通知",
        "某某县教育局｜关于做好2026年高考考务工作的通知 | 首页",
    ],
)
def test_the_site_name_in_a_page_title_is_dropped(page_title: str) -> None:
    raw = "考生须提前三十分钟到达考点。\n"
    assert clean_text(raw, title_hint=page_title).title == "关于做好2026年高考考务工作的通知"


@pytest.mark.parametrize(
    "title", ["坚守安全底线——在全市高考工作会议上的讲话", "2025-2026学年高考考务工作实施方案"]
)
def test_a_dash_inside_a_title_is_kept(title: str) -> None:
    assert clean_text("考生须提前三十分钟到达考点。\n", title_hint=title).title == title
