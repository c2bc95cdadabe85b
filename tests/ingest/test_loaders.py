"""One loader per format: text, Markdown, HTML, Word, PDF, and the files that must be refused."""

from __future__ import annotations

from pathlib import Path

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
    assert "早班；8:00" in doc.text
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
    assert doc.text.split("\n") == ["# 一、人员", "保密室每班至少两人。", "早班；两人"]


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
