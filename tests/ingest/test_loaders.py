"""One loader per format: text, Markdown, HTML, Word, PDF, and the files that must be refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ingest.loaders import LoadError, load


def _pdf(lines: list[str]) -> bytes:
    """A minimal valid PDF with one page of Helvetica text (ASCII)."""
    stream = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({ln}) '" for ln in lines) + " ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_txt_in_gb18030_and_utf8_bom(tmp_path: Path) -> None:
    gbk = tmp_path / "a.txt"
    gbk.write_bytes("监考员须核对准考证。".encode("gb18030"))
    assert load(gbk).text == "监考员须核对准考证。"
    bom = tmp_path / "b.txt"
    bom.write_bytes("\ufeff保密室双人值守。".encode())
    assert load(bom).text == "保密室双人值守。"


def test_markdown_title_headings_and_markup(tmp_path: Path) -> None:
    md = tmp_path / "m.md"
    md.write_text(
        "# 值班须知\n\n## 一、值班\n\n- **每班两人**，见[附件](http://x)。\n\n| 班次 | 时间 |\n|---|---|\n| 早班 | 8:00 |\n",
        encoding="utf-8",
    )
    doc = load(md)
    assert doc.title == "值班须知"
    assert "## 一、值班" in doc.text
    assert "每班两人，见附件。" in doc.text
    # a table row is one sentence, each value named by its column
    assert "班次：早班，时间：8:00。" in doc.text
    assert "班次，时间" not in doc.text  # the header row names columns, it is not a row
    assert "**" not in doc.text and "http" not in doc.text


def test_html_main_text_without_site_chrome(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text(
        "<html><head><title>站点 - 通知</title><script>var x=1;</script></head><body>"
        "<nav>首页 | 新闻 | 登录</nav><div class='breadcrumb'>当前位置</div>"
        "<article><h1>考务通知</h1><h2>一、入场</h2><p>考生<b>提前</b>三十分钟入场。</p></article>"
        "<footer>版权所有</footer></body></html>",
        encoding="utf-8",
    )
    doc = load(page)
    assert doc.title == "考务通知"
    assert "## 一、入场" in doc.text
    assert "考生提前三十分钟入场。" in doc.text
    for chrome in ("首页", "当前位置", "版权所有", "var x"):
        assert chrome not in doc.text


def test_html_school_page_without_article_tag_keeps_the_notice_not_its_link_lists(
    tmp_path: Path,
) -> None:
    """A school site's page in plain <div>s: the sidebar's heading and list of other notices,
    the font-size switch and previous/next links are lists of links, not the notice."""
    page = tmp_path / "通知.html"
    page.write_text(
        "<html><head><title>考务安排-某某中学</title></head><body>"
        "<div class='top'><a>首页</a> | <a>学校概况</a> | <a>通知公告</a></div>"
        "<div class='left'><h3>通知公告</h3><ul><li><a>关于召开家长会的通知</a></li>"
        "<li><a>寒假放假安排</a></li></ul></div>"
        "<div class='right'><h1>关于高考考务工作安排的通知</h1>"
        "<div>【字体：<a>大</a> <a>中</a> <a>小</a>】</div>"
        "<div class='content'><p><strong>一、考务人员安排</strong></p>"
        "<p>全体考务人员须于6月6日下午3:00在学校报告厅参加考务培训，详见<span><a>培训安排</a></span>。</p>"
        "<table><tr><td>考场</td><td>地点</td></tr><tr><td><a>第1考场</a></td><td>1号楼</td></tr>"
        "</table></div>"
        "<p>上一篇：<a>关于开展防溺水安全教育的通知</a></p></div></body></html>",
        encoding="utf-8",
    )
    from ingest.chunk import chunk_text
    from ingest.clean import clean_text

    doc = load(page)
    assert doc.title == "关于高考考务工作安排的通知"
    text = clean_text(doc.text, title_hint=doc.title).text
    assert "全体考务人员须于6月6日下午3:00在学校报告厅参加考务培训，详见培训安排。" in text
    assert "考场：第1考场，地点：1号楼。" in text  # a linked cell of a data table stays
    for chrome in ("通知公告", "家长会", "字体", "上一篇", "防溺水", "首页"):
        assert chrome not in text
    sections = [c.section_path for c in chunk_text(text)]
    assert "一、考务人员安排" in sections


def test_docx_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("保密室管理规定", level=0)
    d.add_heading("一、人员", level=1)
    d.add_paragraph("保密室每班至少两人。")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "早班"
    table.rows[0].cells[1].text = "两人"
    path = tmp_path / "r.docx"
    d.save(str(path))
    doc = load(path)
    assert doc.title == "保密室管理规定"
    assert doc.text.split("\n") == ["# 一、人员", "保密室每班至少两人。", "早班，两人。"]


def _numbered_docx(path: Path) -> None:
    """A regulation whose article numbers and list items are Word's automatic numbering."""
    import docx
    from docx.oxml import parse_xml

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'

    def abstract(aid: int, fmt: str, text: str, suffix: str) -> str:
        return (
            f'<w:abstractNum {w} w:abstractNumId="{aid}"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
            f'<w:numFmt w:val="{fmt}"/><w:suff w:val="{suffix}"/><w:lvlText w:val="{text}"/>'
            "</w:lvl></w:abstractNum>"
        )

    def num(nid: int, aid: int, restart: bool = False) -> str:
        override = (
            '<w:lvlOverride w:ilvl="0"><w:startOverride w:val="1"/></w:lvlOverride>'
            if restart
            else ""
        )
        return f'<w:num {w} w:numId="{nid}"><w:abstractNumId w:val="{aid}"/>{override}</w:num>'

    d = docx.Document()
    numbering = d.part.numbering_part.element
    for i, xml in enumerate(
        [abstract(70, "chineseCounting", "第%1条", "space"),
         abstract(71, "chineseCounting", "（%1）", "nothing"),
         abstract(72, "bullet", "•", "tab")]
    ):  # fmt: skip
        numbering.insert(i, parse_xml(xml))
    for xml in [num(70, 70), num(71, 71), num(72, 71, restart=True), num(73, 72)]:
        numbering.append(parse_xml(xml))

    def para(text: str, nid: int | None) -> None:
        p = d.add_paragraph(text)
        if nid is not None:
            p._p.get_or_add_pPr().append(
                parse_xml(f'<w:numPr {w}><w:ilvl w:val="0"/><w:numId w:val="{nid}"/></w:numPr>')
            )

    for _ in range(9):  # articles one to nine, so the next are 第十条, 第十一条
        para("本条例适用于国家教育考试。", 70)
    para("有下列行为之一的，应当认定为考试作弊：", 70)
    para("携带与考试内容相关的材料的；", 71)
    para("携带具有发送或者接收信息功能的设备的。", 71)
    para("考生有下列行为之一的，应当认定为违纪：", 70)
    para("未在规定的座位参加考试的；", 72)
    para("考试开始信号发出前答题的。", 72)
    para("考点设有保密室。", 73)
    para("附则另行规定。", None)
    d.save(str(path))


def test_html_data_table_rows_are_sentences_and_layout_tables_stay_paragraphs(
    tmp_path: Path,
) -> None:
    """A timetable's row is read as one sentence with its columns named (a cell alone, "9:00",
    answers nothing); a table that only lays out the page is read as its paragraphs."""
    long_text = "考生应当按照准考证上的时间和地点参加考试，" * 8 + "不得迟到。"
    page = (
        "<html><body><article><h1>考试安排</h1>"
        "<table><thead><tr><th>日期</th><th>时间</th><th>科目</th></tr></thead>"
        "<tbody><tr><td><p>6月7日</p></td><td>9:00—11:30</td><td>语文</td></tr>"
        "<tr><td>6月7日</td><td>15:00—17:00</td><td>数学</td></tr></tbody></table>"
        "<table><tr><td>联系人</td><td>王老师</td></tr></table>"
        f"<table><tr><td><p>{long_text}</p><p>考场内保持安静。</p></td></tr></table>"
        "</article></body></html>"
    )
    path = tmp_path / "安排.html"
    path.write_text(page, encoding="utf-8")
    lines = [ln.strip() for ln in load(path).text.split("\n") if ln.strip()]
    assert lines == [
        "日期：6月7日，时间：9:00—11:30，科目：语文。",
        "日期：6月7日，时间：15:00—17:00，科目：数学。",
        "联系人，王老师。",
        long_text,
        "考场内保持安静。",
    ]


def test_docx_header_row_names_the_columns(tmp_path: Path) -> None:
    import docx
    from docx.oxml import parse_xml

    d = docx.Document()
    table = d.add_table(rows=2, cols=2)
    for (r, c), text in zip(
        [(0, 0), (0, 1), (1, 0), (1, 1)], ["班次", "人数", "早班", "两人"], strict=True
    ):
        table.cell(r, c).text = text
    table.rows[0]._tr.get_or_add_trPr().append(
        parse_xml(
            '<w:tblHeader xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>'
        )
    )
    path = tmp_path / "值班.docx"
    d.save(str(path))
    assert load(path).text == "班次：早班，人数：两人。"


def test_unmarked_first_row_of_labels_over_figures_names_the_columns(tmp_path: Path) -> None:
    """Few authors mark a header row; labels without figures over a column of figures are one."""
    import docx

    schedule = [
        ["日期", "时间", "科目"],
        ["6月7日", "9:00—11:30", "语文"],
        ["6月8日", "15:00—17:00", "数学"],
    ]
    d = docx.Document()
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate(schedule):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    path = tmp_path / "安排.docx"
    d.save(str(path))
    assert load(path).text.split("\n") == [
        "日期：6月7日，时间：9:00—11:30，科目：语文。",
        "日期：6月8日，时间：15:00—17:00，科目：数学。",
    ]
    cells = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
        for row in [["考场", "监考员"], ["第1考场", "王老师"], ["第2考场", "李老师"]]
    )
    page = tmp_path / "安排.html"
    page.write_text(f"<html><body><table>{cells}</table></body></html>", encoding="utf-8")
    assert "考场：第1考场，监考员：王老师。" in load(page).text


@pytest.mark.parametrize(
    "rows",
    [
        [["早班", "王老师"], ["晚班", "李老师"]],  # no figures anywhere: a row like the others
        [["2026年", "高考"], ["6月7日", "语文"]],  # the first row has a figure: data
        [["联系人", "电话"], ["王老师", "未定"]],  # no column of figures under it
    ],
)
def test_a_first_row_that_may_be_data_is_kept_as_a_row(rows: list[list[str]]) -> None:
    from ingest.loaders import names_columns

    assert not names_columns(rows)


def test_a_table_row_is_quoted_whole() -> None:
    from ingest.chunk import chunk_text
    from ingest.loaders import table_lines
    from knowledge.units import build_units

    text = "\n".join(["考试时间安排如下。", *table_lines([["6月7日", "9:00—11:30", "语文"]],
                                                       ["日期", "时间", "科目"])])  # fmt: skip
    quotes = [u.quote for u in build_units("安排", chunk_text(text))]
    assert "日期：6月7日，时间：9:00—11:30，科目：语文。" in quotes


def test_html_ordered_list_numbers_become_text(tmp_path: Path) -> None:
    """A browser draws <ol> numbers that the page text lacks; they are written in, unless the
    items carry their own or the list hides them, so an item still reads as one."""
    page = (
        "<html><body><article><h1>考场规则</h1>"
        "<p>考生有下列行为之一的，应当认定为考试作弊：</p>"
        "<ol><li>携带与考试内容相关的材料的；</li><li>携带具有发送或者接收信息功能的设备的。</li></ol>"
        '<ol type="a" start="3"><li>核对证件</li><li value="7">清点试卷</li></ol>'
        '<ol style="list-style-type: cjk-ideographic"><li>总体要求</li><li>工作安排</li></ol>'
        "<ol><li>（一）已编号的条目；</li><li>（二）另一条。</li></ol>"
        '<ol style="list-style:none"><li>不显示编号</li></ol>'
        "<ul><li>无序条目</li></ul>"
        "</article></body></html>"
    )
    path = tmp_path / "规则.html"
    path.write_text(page, encoding="utf-8")
    lines = [ln for ln in load(path).text.split("\n") if ln.strip()]
    assert lines == [
        "考生有下列行为之一的，应当认定为考试作弊：",
        "1.携带与考试内容相关的材料的；",
        "2.携带具有发送或者接收信息功能的设备的。",
        "c.核对证件",
        "g.清点试卷",
        "一、总体要求",
        "二、工作安排",
        "（一）已编号的条目；",
        "（二）另一条。",
        "不显示编号",
        "无序条目",
    ]


def test_docx_automatic_numbers_become_text(tmp_path: Path) -> None:
    """Article numbers and list items numbered by Word appear in the text as printed, so a
    list item is still read as an item of the sentence that introduces it."""
    path = tmp_path / "条例.docx"
    _numbered_docx(path)
    lines = load(path).text.split("\n")
    assert lines[0] == "第一条 本条例适用于国家教育考试。"
    assert lines[9:] == [
        "第十条 有下列行为之一的，应当认定为考试作弊：",
        "（一）携带与考试内容相关的材料的；",
        "（二）携带具有发送或者接收信息功能的设备的。",
        "第十一条 考生有下列行为之一的，应当认定为违纪：",
        # a list restarted by Word counts from one again
        "（一）未在规定的座位参加考试的；",
        "（二）考试开始信号发出前答题的。",
        # bullets and unnumbered paragraphs gain nothing
        "考点设有保密室。",
        "附则另行规定。",
    ]


def test_docx_list_style_numbers_become_text(tmp_path: Path) -> None:
    """Word's own "List Number" style numbers through the style, not the paragraph."""
    import docx

    d = docx.Document()
    d.add_paragraph("考生应当遵守下列规定：")
    d.add_paragraph("按时入场。", style="List Number")
    d.add_paragraph("不得携带手机。", style="List Number")
    d.add_paragraph("考场内保持安静。", style="List Bullet")
    path = tmp_path / "规定.docx"
    d.save(str(path))
    assert load(path).text.split("\n") == [
        "考生应当遵守下列规定：",
        "1.按时入场。",
        "2.不得携带手机。",
        "考场内保持安静。",
    ]


def test_docx_with_a_style_based_on_itself_still_loads(tmp_path: Path) -> None:
    import docx
    from docx.oxml import parse_xml

    d = docx.Document()
    style = d.styles["Normal"].element
    style.append(
        parse_xml(
            '<w:basedOn xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
            f' w:val="{style.styleId}"/>'
        )
    )
    d.add_paragraph("保密室每班至少两人。")
    path = tmp_path / "坏样式.docx"
    d.save(str(path))
    assert load(path).text == "保密室每班至少两人。"


_WNS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_REV = 'w:author="招生办" w:date="2026-05-20T09:00:00Z"'


def _xml(fragment: str) -> Any:
    from docx.oxml import parse_xml

    return parse_xml(fragment.replace(">", f" {_WNS}>", 1))  # the namespace on the outer tag


def test_docx_reads_as_the_document_now_stands(tmp_path: Path) -> None:
    """Revisions left tracked, a field's result, content controls and a phonetic guide: Word
    shows their text, so the quote must carry it (python-docx's paragraph text drops it)."""
    import docx

    d = docx.Document()
    revised = d.add_paragraph("监考员须于开考前")
    revised._p.append(_xml(f'<w:ins w:id="1" {_REV}><w:r><w:t>40分钟</w:t></w:r></w:ins>'))
    revised._p.append(
        _xml(f'<w:del w:id="2" {_REV}><w:r><w:delText>30分钟</w:delText></w:r></w:del>')
    )
    revised._p.append(_xml("<w:r><w:t>到考务办公室签到。</w:t></w:r>"))
    moved = d.add_paragraph("考生")
    moved._p.append(_xml(f'<w:moveFrom w:id="3" {_REV}><w:r><w:t>不得</w:t></w:r></w:moveFrom>'))
    moved._p.append(_xml("<w:r><w:t>须按时进场。</w:t></w:r>"))
    field = d.add_paragraph("考场规则详见")
    field._p.append(
        _xml('<w:fldSimple w:instr=" REF 附件 "><w:r><w:t>附件2</w:t></w:r></w:fldSimple>')
    )
    field._p.append(_xml("<w:r><w:t>。</w:t></w:r>"))
    guide = d.add_paragraph("试卷须存放在")
    guide._p.append(
        _xml(
            "<w:ruby><w:rubyPr/><w:rt><w:r><w:t>bǎo mì shì</w:t></w:r></w:rt>"
            "<w:rubyBase><w:r><w:t>保密室</w:t></w:r></w:rubyBase></w:ruby>"
        )
    )
    guide._p.append(_xml("<w:r><w:t>。</w:t></w:r>"))
    body = d.element.body
    toc = _xml(
        '<w:sdt><w:sdtPr><w:docPartObj><w:docPartGallery w:val="Table of Contents"/>'
        "</w:docPartObj></w:sdtPr><w:sdtContent><w:p><w:r><w:t>目录</w:t></w:r></w:p>"
        "</w:sdtContent></w:sdt>"
    )
    body.insert(0, toc)
    control = _xml(
        "<w:sdt><w:sdtPr/><w:sdtContent><w:p><w:r><w:t>二、开考15分钟后考生不得进入考场。"
        "</w:t></w:r></w:p></w:sdtContent></w:sdt>"
    )
    body.insert(len(body) - 1, control)
    table = d.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "签到时间"
    cell = table.cell(0, 1).paragraphs[0]
    cell._p.append(_xml(f'<w:ins w:id="4" {_REV}><w:r><w:t>7:20</w:t></w:r></w:ins>'))
    path = tmp_path / "修订稿.docx"
    d.save(str(path))
    assert load(path).text.split("\n") == [
        "监考员须于开考前40分钟到考务办公室签到。",
        "考生须按时进场。",
        "考场规则详见附件2。",
        "试卷须存放在保密室。",
        "二、开考15分钟后考生不得进入考场。",
        "签到时间，7:20。",
    ]


def test_docx_numbered_list_item_is_quoted_with_its_lead_in(tmp_path: Path) -> None:
    from ingest.chunk import chunk_text
    from ingest.clean import clean_text
    from knowledge.units import build_units

    path = tmp_path / "条例.docx"
    _numbered_docx(path)
    chunks = chunk_text(clean_text(load(path).text).text)
    quotes = [u.quote for u in build_units("条例", chunks)]
    assert any(
        q.startswith("第十条 有下列行为之一的，应当认定为考试作弊：")
        and q.endswith("（二）携带具有发送或者接收信息功能的设备的。")
        for q in quotes
    ), quotes


@pytest.mark.parametrize(
    ("n", "text"),
    [(1, "一"), (10, "十"), (11, "十一"), (20, "二十"), (38, "三十八"), (105, "一百零五"),
     (110, "一百一十"), (284, "二百八十四")],
)  # fmt: skip
def test_chinese_article_numbers(n: int, text: str) -> None:
    from ingest.loaders import chinese_numeral

    assert chinese_numeral(n) == text


def test_pdf_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "p.pdf"
    path.write_bytes(_pdf(["Exam rules", "Candidates enter 30 minutes early."]))
    text = load(path).text
    assert "Candidates enter 30 minutes early." in text


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "文件为空"),
        ("blank.md", b"\n\n   \n", "没有文字"),
        ("broken.docx", b"not a zip file", "无法打开 Word 文档"),
        ("broken.pdf", b"%PDF-1.4 garbage", "无法读取 PDF"),
        ("binary.txt", b"\x00\x01\x02\x03" * 10, "不是文本文件"),
        ("sheet.xlsx", b"PK\x03\x04", "不支持的文件类型"),
        ("notice.doc", b"\xd0\xcf\x11\xe0", "不支持的文件类型 .doc"),
    ],
)
def test_bad_files_refused_with_a_reason(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoadError, match=reason):
        load(path)


def test_pdf_line_wraps_do_not_split_sentences(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.pdf"
    path.write_bytes(_pdf(["Candidates must not bring", "phones into the room.", "Rule 2."]))
    text = load(path).text
    assert "Candidates must not bring phones into the room." in text


def test_pdf_wrapped_chinese_lines_rejoin_into_sentences() -> None:
    from ingest.loaders import _rejoin

    page = (
        "第二十八条 考生有下列行为之一的，应当认定为考试作\n"
        "弊：\n"
        "（一）携带具有发送或者接收信息功\n"
        "能的设备的；\n"
        "（二）由他人冒名代替参加考试的。\n"
        "第二十九条 考试工作人员应当\n"
        "遵守考场纪律。\n"
    )
    lines = _rejoin(page).split("\n")
    assert lines == [
        "第二十八条 考生有下列行为之一的，应当认定为考试作弊：",
        "（一）携带具有发送或者接收信息功能的设备的；",
        "（二）由他人冒名代替参加考试的。",
        "第二十九条 考试工作人员应当遵守考场纪律。",
    ]


# A notice as pypdf extracts it from a typeset page: a title wrapped and centred over two lines,
# headings that stand alone, and a first-line indent that comes out as one leading space.
NOTICE_PAGE = (
    " 市教育考试院文件\n"
    " 市考院〔2026〕12号\n"
    "关于做好2026年普通高校招生全国统一考试考点考\n"
    " 务工作的通知\n"
    "各区县招生考试机构：\n"
    " 为确保今年高考安全平稳进行，根据上级有关文件要求，结合\n"
    "我市实际，现就考点考务工作有关事项通知如下。\n"
    " 一、考试时间\n"
    " 今年高考于6月7日至6月9日举行，各科目具体时间以准考证上\n"
    "公布的时间为准。考生须在每科开考前30分钟凭准考证和居民身份\n"
    "证进入考场，开考15分钟后不得进入考场。\n"
    " 二、保密室管理\n"
    " 保密室须安装防盗门（含防盗锁）、视频监控设备和消防器材（\n"
    "灭火器不少于2具）。值守人员交接班时须填写《值班记录表》（\n"
    "附件2），写明交接时间和试卷数量。\n"
    " 市教育考试院\n"
    " 2026年5月20日\n"
)


NOTICE_LINES = [
    "市教育考试院文件",
    "市考院〔2026〕12号",
    "关于做好2026年普通高校招生全国统一考试考点考务工作的通知",
    "各区县招生考试机构：",
    "为确保今年高考安全平稳进行，根据上级有关文件要求，结合我市实际，现就考点考务工作有关事项"
    "通知如下。",
    "一、考试时间",
    "今年高考于6月7日至6月9日举行，各科目具体时间以准考证上公布的时间为准。考生须在每科开考前"
    "30分钟凭准考证和居民身份证进入考场，开考15分钟后不得进入考场。",
    "二、保密室管理",
    # a full line ending in a bracket was wrapped there, not ended
    "保密室须安装防盗门（含防盗锁）、视频监控设备和消防器材（灭火器不少于2具）。值守人员交接班时"
    "须填写《值班记录表》（附件2），写明交接时间和试卷数量。",
    "市教育考试院",
    "2026年5月20日",
]


def test_pdf_notice_headings_title_and_signature_stay_lines_of_their_own() -> None:
    from ingest.loaders import _rejoin

    assert _rejoin(NOTICE_PAGE).split("\n") == NOTICE_LINES


def test_pdf_without_indents_tells_headings_from_wraps_by_line_width() -> None:
    from ingest.loaders import _rejoin

    page = "\n".join(line.lstrip() for line in NOTICE_PAGE.splitlines()[5:])
    lines = _rejoin(page).split("\n")
    assert "一、考试时间" in lines and "二、保密室管理" in lines
    assert "市教育考试院" in lines and "2026年5月20日" in lines
    assert any(line.startswith("今年高考于") and line.endswith("不得进入考场。") for line in lines)


def _typeset_notice(path: Path, indent: bool) -> None:
    """NOTICE_LINES typeset as an office would: a centred title in a larger font, paragraphs
    wrapped by the layout (with a first-line indent, or without), a page number per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    body = ParagraphStyle(
        "body", fontName="STSong-Light", fontSize=16, leading=40, wordWrap="CJK",
        firstLineIndent=32 if indent else 0,
    )  # fmt: skip
    title = ParagraphStyle("title", parent=body, fontSize=22, leading=44, alignment=1,
                           firstLineIndent=0)  # fmt: skip
    story = [
        Paragraph(line, title if i < 3 else body)
        for i, line in enumerate(NOTICE_LINES)
        if i != 3  # the addressee line: flush left, as in the text layer
    ]

    def page_number(canvas: Any, doc: Any) -> None:
        canvas.setFont("STSong-Light", 10)
        canvas.drawCentredString(A4[0] / 2, 30, f"— {doc.page} —")

    SimpleDocTemplate(str(path), pagesize=A4).build(
        story, onFirstPage=page_number, onLaterPages=page_number
    )


def _draw_glyph_by_glyph(path: Path, one_object_per_glyph: bool) -> None:
    """NOTICE_LINES drawn a character at a time, as some converters write PDFs: each glyph
    its own text object, or one text object that moves to each glyph's position, spacing the
    letters a little to justify the line."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    font, size, width = "STSong-Light", 14, 28
    pdfmetrics.registerFont(UnicodeCIDFont(font))
    pdf = canvas.Canvas(str(path))
    y = 800.0
    for i, para in enumerate(NOTICE_LINES):
        indent = 2 if len(para) > 12 and i > 3 else 0
        text = "\u3000" * indent + para
        for line in (text[j : j + width] for j in range(0, len(text), width)):
            x = 60.0
            glyphs = pdf.beginText(x, y)
            glyphs.setFont(font, size)
            for ch in line:
                advance = pdfmetrics.stringWidth(ch, font, size)
                if one_object_per_glyph:
                    pdf.setFont(font, size)
                    pdf.drawString(x, y, ch)
                else:
                    glyphs.textOut(ch)
                    glyphs.moveCursor(advance + 3, 0)
                x += advance
            if not one_object_per_glyph:
                pdf.drawText(glyphs)
            y -= size * 1.8
            if y < 60:
                pdf.showPage()
                y = 800.0
    pdf.save()


# A notice made into a PDF the ways offices make them: typeset with or without first-line
# indents, or drawn a character at a time (each glyph its own object, or one object that moves
# to each glyph).
PDF_NOTICES: dict[str, Callable[[Path], None]] = {
    "typeset-indented": lambda path: _typeset_notice(path, indent=True),
    "typeset-flush": lambda path: _typeset_notice(path, indent=False),
    "glyph-objects": lambda path: _draw_glyph_by_glyph(path, one_object_per_glyph=True),
    "glyph-moves": lambda path: _draw_glyph_by_glyph(path, one_object_per_glyph=False),
}


@pytest.mark.parametrize("make", PDF_NOTICES.values(), ids=PDF_NOTICES.keys())
def test_pdf_notice_keeps_headings_and_joins_wrapped_sentences(
    tmp_path: Path, make: Callable[[Path], None]
) -> None:
    from ingest.chunk import chunk_text
    from ingest.clean import clean_text

    path = tmp_path / "通知.pdf"
    make(path)
    doc = load(path)
    cleaned = clean_text(doc.text, title_hint=doc.title)
    assert cleaned.title == "关于做好2026年普通高校招生全国统一考试考点考务工作的通知"
    lines = cleaned.text.split("\n")
    assert "一、考试时间" in lines and "二、保密室管理" in lines  # not run into their text
    body = [line for line in NOTICE_LINES[4:] if len(line) > 12]
    assert all(line in lines for line in body)  # each paragraph whole, over wraps and pages
    sections = {c.section_path for c in chunk_text(cleaned.text)}
    assert {"一、考试时间", "二、保密室管理"} <= sections


def test_pdf_hanging_indent_of_a_word_list_does_not_break_its_items() -> None:
    from ingest.loaders import _rejoin

    page = (
        "考场规则\n"
        "1.考生须在开考前30分钟凭准考证和居民身份证进入考场，对号入\n"
        " 座，并将准考证、居民身份证放在桌面右上角以便核验。\n"
        "2.考生只准携带黑色字迹签字笔、2B铅笔、橡皮、直尺等规定的文\n"
        " 具，不得携带手机、智能手表等具有通讯功能的电子设备进入考场\n"
        " 。\n"
        "3.开考15分钟后考生不得进入考场，考试结束前30分钟内不得交卷离\n"
        " 场，离场后不得在考场附近逗留或者交谈。\n"
        "4.考生在考场内须保持安静，不得吸烟，不得喧哗，不得交头接耳、\n"
        " 左顾右盼或者打手势。\n"
    )
    lines = _rejoin(page).split("\n")
    assert len(lines) == 5
    assert lines[2] == (
        "2.考生只准携带黑色字迹签字笔、2B铅笔、橡皮、直尺等规定的文具，不得携带手机、智能手表等"
        "具有通讯功能的电子设备进入考场。"
    )


def test_txt_broken_at_a_fixed_width_is_joined_into_paragraphs(tmp_path: Path) -> None:
    """A notice copied out of a PDF into a GBK text file keeps the PDF's line breaks."""
    paragraphs = [line for line in NOTICE_LINES if not line.startswith(("市考院", "市教育"))]
    body = []
    for para in paragraphs:
        if len(para) <= 12:  # title and headings stay lines of their own
            body.append(para)
            continue
        text = "\u3000\u3000" + para
        body += [text[i : i + 30] for i in range(0, len(text), 30)]
    path = tmp_path / "通知.txt"
    path.write_bytes("\r\n".join(body).encode("gbk"))
    assert load(path).text.split("\n") == paragraphs


def test_txt_with_one_paragraph_per_line_is_left_as_it_is(shared: Path) -> None:
    from ingest.loaders import decode_text, hard_wrapped

    files = [
        *sorted((shared / "seeds").glob("*.txt")),
        *sorted(shared.glob("eval/corpus/docs/*.txt")),
    ]
    assert files
    for path in files:
        assert not hard_wrapped(decode_text(path.read_bytes())), path.name


def test_pdf_notice_is_cut_under_its_headings(tmp_path: Path) -> None:
    from ingest.chunk import chunk_text
    from ingest.clean import clean_text
    from ingest.loaders import _rejoin

    cleaned = clean_text(_rejoin(NOTICE_PAGE), title_hint="(anonymous)")
    assert cleaned.title == "关于做好2026年普通高校招生全国统一考试考点考务工作的通知"
    sections = {c.section_path for c in chunk_text(cleaned.text, max_chars=400)}
    assert {"一、考试时间", "二、保密室管理"} <= sections


def test_pdf_running_header_and_page_numbers_do_not_land_in_sentences() -> None:
    from ingest.loaders import _rejoin, strip_page_furniture

    pages = [
        "考务工作规定（2024年修订）\n第一条 考点应当设立保密室，\n— 1 —",
        "考务工作规定（2024年修订）\n实行双人值守。\n第二条 监考员应当\n— 2 —",
        "考务工作规定（2024年修订）\n提前三十分钟到岗。\n第 3 页",
    ]
    text = _rejoin("\n".join(strip_page_furniture(pages)))
    assert "第一条 考点应当设立保密室，实行双人值守。" in text
    assert "第二条 监考员应当提前三十分钟到岗。" in text
    assert text.count("考务工作规定（2024年修订）") == 1  # the first page's top line: the title
    assert "—" not in text and "页" not in text


def test_pdf_letterhead_on_every_page_is_not_joined_to_the_title(tmp_path: Path) -> None:
    from ingest.clean import clean_text

    """A 红头 issuer line printed at the top of every page, the first included, stays out of
    the title ("某省教育考试院文件某省…细则" was the title and the document's name in every
    citation)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    body = ParagraphStyle("b", fontName="STSong-Light", fontSize=15, leading=30, wordWrap="CJK")
    title = ParagraphStyle("t", parent=body, fontSize=18, alignment=1)
    duties = [
        "考点主考对本考点考务工作负总责，副主考协助主考工作",
        "试卷保密室实行二十四小时值班，每班不少于两人，值班人员不得会客",
        "监考员须在开考前六十分钟到达考点，参加培训后领取监考证",
        "每个考场安排两名监考员，一人在讲台前，一人在考场后部",
        "考生凭准考证和身份证进入考场，对号入座，证件放在桌面左上角",
        "开考十五分钟后，迟到考生不得进入考场，考生不得提前交卷",
        "考试结束后，监考员按考号顺序清点答题卡，装袋密封后送考务办公室",
        "考点发现试卷袋破损或者异常，应当立即报告县招生考试机构",
        "考生在考试期间突发疾病的，由考点医务人员到场处置并作记录",
    ]
    numerals = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"]
    articles = [
        f"第{n}条 {duties[i % len(duties)]}，具体要求按照本省当年考务工作实施细则第{n}项执行，"
        f"各考点不得自行调整（本条为第{i + 1}条）。"
        for i, n in enumerate(numerals)
    ]
    story = [Paragraph("某市普通高考考务工作实施细则", title)]
    story += [Paragraph(a, body) for a in articles]

    def letterhead(canvas: Any, doc: Any) -> None:
        canvas.setFont("STSong-Light", 9)
        canvas.drawCentredString(A4[0] / 2, A4[1] - 30, "某省教育考试院文件")
        canvas.drawCentredString(A4[0] / 2, 30, f"— {doc.page} —")

    path = tmp_path / "细则.pdf"
    SimpleDocTemplate(str(path), pagesize=A4).build(
        story, onFirstPage=letterhead, onLaterPages=letterhead
    )
    loaded = load(path)
    cleaned = clean_text(loaded.text, title_hint=loaded.title)
    assert cleaned.title == "某市普通高考考务工作实施细则"
    assert "某省教育考试院文件" not in cleaned.text
    assert cleaned.text.startswith(articles[0])
    assert all(a in cleaned.text for a in articles)


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("附件1.doc", "另存为” .docx"),
        ("通知.WPS", "另存为” .docx"),
        ("考场安排.xls", "导出为 PDF"),
        ("培训课件.pptx", "导出为 PDF"),
        ("红头文件.ofd", "OFD 阅读器导出为 PDF"),
        ("扫描件.jpg", "文字识别"),
        ("材料.zip", "先解压"),
    ],
)
def test_an_office_format_kaowu_cannot_read_is_refused_with_how_to_convert_it(
    tmp_path: Path, name: str, fix: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xd0\xcf\x11\xe0 not read")
    with pytest.raises(LoadError) as caught:
        load(path)
    assert str(caught.value).startswith(f"不支持的文件类型 {path.suffix}")
    assert fix in str(caught.value)


def test_an_unknown_type_is_refused_without_advice_that_does_not_apply(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("x = 1", encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        load(path)
    assert str(caught.value) == "不支持的文件类型 .toml（可导入 .txt .md .html .docx .pdf）。"


def test_a_page_saved_under_its_shtml_address_is_read_as_html(tmp_path: Path) -> None:
    path = tmp_path / "t20260601_1234.shtml"
    path.write_text(
        "<html><head><title>关于做好考务工作的通知</title></head><body><div class='nav'>首页</div>"
        "<div class='content'><p>考生须在开考前30分钟凭准考证进入考场。</p></div></body></html>",
        encoding="gbk",
    )
    doc = load(path)
    assert "考生须在开考前30分钟凭准考证进入考场。" in doc.text
    assert "<p>" not in doc.text
