"""One loader per file format, all behind `load(path) -> LoadedDocument`.

Loaders only extract text and structure; cleaning is shared (`ingest.clean`). Structured formats
mark headings as Markdown (`## 标题`) so the chunker sees one outline syntax for all of them.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import prompts
from ingest.clean import SENTENCE_PUNCT
from knowledge.textutil import cjk_ratio
from knowledge.units import ITEM


class LoadError(Exception):
    """A file that cannot be ingested; the message (Chinese) says why."""


@dataclass(frozen=True)
class LoadedDocument:
    """Raw text of a document and the title its format declares, if any."""

    text: str
    title: str | None = None


class Loader(Protocol):
    """Reads one file format."""

    suffixes: tuple[str, ...]

    def load(self, path: Path) -> LoadedDocument:
        """Extract text (and a title if the format has one)."""
        ...


def decode_text(data: bytes) -> str:
    """Decode bytes of a Chinese text file: UTF-8/16/32 (BOM), UTF-8, GB18030 or Big5."""
    from ingest.encoding import EncodingError, decode

    try:
        return decode(data)
    except EncodingError as exc:
        raise LoadError(str(exc)) from exc


class TextLoader:
    """Plain text (.txt)."""

    suffixes: tuple[str, ...] = (".txt",)

    def load(self, path: Path) -> LoadedDocument:
        """Decode the file; lines broken at a fixed width are joined again."""
        text = decode_text(path.read_bytes())
        return LoadedDocument(_rejoin(text) if hard_wrapped(text) else text)


def table_lines(rows: list[list[str]], header: list[str] | None = None) -> list[str]:
    """Table rows as sentences: "班次：早班，时间：8:00。" under a header row, else "早班，8:00。".

    One row is one sentence, so a quote carries the whole row (a cell alone, "8:00", answers
    nothing); the header names each value, because a row alone does not say which column is
    which. A value repeated in the next column (a merged cell) is given once.
    """
    out = []
    for cells in rows:
        named = header is not None and len(header) == len(cells)
        parts: list[str] = []
        for i, value in enumerate(cells):
            if not value or (i > 0 and value == cells[i - 1]):
                continue
            name = header[i] if named and header is not None else ""
            parts.append(f"{name}：{value}" if name and name != value else value)
        if parts:
            line = "，".join(parts)
            out.append(line if re.search(r"[。！？!?；;]$", line) else line + "。")
    return out


# A column name is a short label without figures ("日期", "考试时间", "科目").
_LABEL_MAX = 12


def names_columns(rows: list[list[str]]) -> bool:
    """Whether a table's unmarked first row names its columns: short distinct labels without
    figures above a column whose every value has one ("时间" over "9:00—11:30")."""
    if len(rows) < 2 or len(rows[0]) < 2 or any(len(r) != len(rows[0]) for r in rows):
        return False
    head = rows[0]
    if len(set(head)) < len(head) or any(
        not c or len(c) > _LABEL_MAX or re.search(r"\d", c) for c in head
    ):
        return False
    return any(all(re.search(r"\d", r[j]) for r in rows[1:]) for j in range(len(head)))


_MD_RULE = re.compile(r"\|?[\s:|-]+\|?")


class MarkdownLoader:
    """Markdown (.md): headings kept as outline, inline markup removed, table rows as
    sentences."""

    suffixes: tuple[str, ...] = (".md", ".markdown")

    def load(self, path: Path) -> LoadedDocument:
        """Decode, drop front matter and markup, take the first level-1 heading as title."""
        text = decode_text(path.read_bytes())
        text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.DOTALL)
        text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
        title = None
        lines: list[str] = []
        source = text.splitlines()
        header: list[str] | None = None
        for n, line in enumerate(source):
            stripped = line.strip()
            if title is None and re.match(r"^#\s+\S", stripped):
                title = stripped.lstrip("#").strip()
                continue
            if _MD_RULE.fullmatch(stripped) and "-" in stripped:
                continue  # table separator row
            if stripped.startswith("|"):
                cells = [c.strip() for c in stripped.strip("|").split("|")]
                following = source[n + 1].strip() if n + 1 < len(source) else ""
                if _MD_RULE.fullmatch(following) and "-" in following:
                    header = cells  # the row above the separator names the columns
                    continue
                lines.extend(table_lines([cells], header))
                continue
            header = None
            stripped = re.sub(r"^[-*+]\s+", "", stripped)
            stripped = re.sub(r"^>\s?", "", stripped)
            stripped = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", stripped)
            stripped = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", stripped)
            stripped = re.sub(r"(\*\*|__|`)", "", stripped)
            lines.append(stripped)
        return LoadedDocument("\n".join(lines), title)


_BLOCK_TAGS = (
    "p",
    "div",
    "li",
    "tr",
    "br",
    "section",
    "article",
    "table",
    "ul",
    "ol",
    "dd",
    "dt",
    "blockquote",
    "pre",
    "hr",
    "td",
    "th",
)
_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "button",
    "input",
    "select",
    "textarea",
    "svg",
    "template",
)
_CHROME_ATTR = re.compile(
    r"nav|menu|footer|sidebar|breadcrumb|comment|share|login|copyright|related|recommend|toolbar",
    re.IGNORECASE,
)


# Numbers a browser draws before the items of <ol>: the type attribute, or the CSS list style.
_OL_TYPES = {"1": "decimal", "a": "lowerLetter", "A": "upperLetter", "i": "lowerRoman",
             "I": "upperRoman"}  # fmt: skip
_CSS_LIST = re.compile(r"list-style(?:-type)?\s*:\s*([\w-]+)", re.IGNORECASE)
_CSS_FORMATS: dict[str, str | None] = {
    "decimal": "decimal",
    "decimal-leading-zero": "decimalZero",
    "lower-alpha": "lowerLetter",
    "lower-latin": "lowerLetter",
    "upper-alpha": "upperLetter",
    "upper-latin": "upperLetter",
    "lower-roman": "lowerRoman",
    "upper-roman": "upperRoman",
    "cjk-ideographic": "chineseCounting",
    "simp-chinese-informal": "chineseCounting",
    "cjk-decimal": "ideographDigital",
    "none": None,
}
# An item that already begins with its own number (a list item's, or an article's): the page
# hides the browser's (a CMS habit).
_ARTICLE_NUMBER = re.compile(r"第[一二三四五六七八九十百零\d]+[章节条款项]")


def _number_list_items(ol: Any) -> None:
    """Write the numbers a browser shows before the items of an ordered list into its text."""
    style = _CSS_LIST.search(str(ol.get("style") or ""))
    if style:
        fmt = _CSS_FORMATS.get(style.group(1).lower(), "decimal")
    else:
        fmt = _OL_TYPES.get(str(ol.get("type") or "1"), "decimal")
    if fmt is None:
        return
    n = _int(ol.get("start"), 1)
    for li in ol.find_all("li", recursive=False):
        n = _int(li.get("value"), n)
        text = li.get_text("", strip=True)
        if text and not (ITEM.match(text) or _ARTICLE_NUMBER.match(text)):
            chinese = fmt in ("chineseCounting", "ideographDigital")
            li.insert(0, _number_text(n, fmt) + ("、" if chinese else "."))
        n += 1


# A table that holds other tables, lists or headings, or a cell longer than a long paragraph,
# lays out a page: it is read as the paragraphs it holds. Other tables hold data (a timetable,
# a contact list), even when an editor wrapped each cell in <p>.
_LAYOUT_INSIDE = ("table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6")
_CELL_MAX = 200


def _is_data_table(table: Any) -> bool:
    """Whether an HTML table holds data (rows of short cells) rather than a page layout."""
    if table.find(_LAYOUT_INSIDE) is not None:
        return False
    cells = table.find_all(["td", "th"])
    if any(len(c.get_text(strip=True)) > _CELL_MAX for c in cells):
        return False
    return any(len(tr.find_all(["td", "th"])) >= 2 for tr in table.find_all("tr"))


# Blocks that may hold a site's menus, sidebars of other articles, font-size and share links
# (inline elements such as <span> are left alone: a link inside a sentence is part of it).
_LINK_BLOCKS = ("div", "ul", "ol", "dl", "p", "td", "section", "table")
# Share of a block's text inside links above which it is a list of links, not prose.
_LINK_SHARE = 0.5


def _is_link_list(tag: Any) -> bool:
    """Whether a block is mostly links and says nothing of its own (no sentence in it): a
    menu, a list of other articles, 上一篇/下一篇, 【字体：大 中 小】."""
    text = re.sub(r"\s+", "", tag.get_text())
    if not text or SENTENCE_PUNCT.search(text):
        return False
    linked = sum(len(re.sub(r"\s+", "", a.get_text())) for a in tag.find_all("a"))
    return linked / len(text) >= _LINK_SHARE


class HtmlLoader:
    """HTML pages: the main content element, headings as outline, ordered-list numbers as
    text, site chrome dropped."""

    # A page saved under its address keeps the server's suffix (.shtml is common on government
    # sites).
    suffixes: tuple[str, ...] = (".html", ".htm", ".shtml", ".xhtml")

    def load(self, path: Path) -> LoadedDocument:
        """Parse with BeautifulSoup (lxml) and keep the readable text."""
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(decode_text(path.read_bytes()), "lxml")
        title_tag = soup.find("title")
        for tag in soup.find_all(_DROP_TAGS):
            tag.decompose()
        for tag in soup.find_all(class_=_CHROME_ATTR) + soup.find_all(id=_CHROME_ATTR):
            if not tag.decomposed and tag.name not in ("body", "html", "main", "article"):
                tag.decompose()
        root = soup.find("article") or soup.find("main") or soup.body or soup
        for tag in root.find_all(_LINK_BLOCKS):
            if tag.decomposed:
                continue
            if tag.name == "td" and _is_data_table(tag.find_parent("table")):
                continue  # a cell of a timetable or a contact list, not a layout column
            if _is_link_list(tag):
                tag.decompose()
        h1 = root.find("h1")
        title = (h1.get_text(" ", strip=True) if h1 else None) or (
            title_tag.get_text(" ", strip=True) if title_tag else None
        )
        for level in range(1, 7):
            for h in root.find_all(f"h{level}"):
                text = h.get_text(" ", strip=True)
                h.replace_with(f"\n{'#' * level} {text}\n" if text != title else "\n")
        for ol in root.find_all("ol"):
            _number_list_items(ol)
        for table in root.find_all("table"):
            if not table.decomposed and _is_data_table(table):
                rows = [
                    [
                        " ".join(c.get_text(" ", strip=True).split())
                        for c in tr.find_all(["td", "th"])
                    ]
                    for tr in table.find_all("tr")
                ]
                first = table.find("tr")
                header = first is not None and (
                    first.find_parent("thead") is not None
                    or all(c.name == "th" for c in first.find_all(["td", "th"]))
                    or names_columns(rows)
                )
                lines = table_lines(rows[1:], rows[0]) if header and rows else table_lines(rows)
                table.replace_with("\n" + "\n".join(lines) + "\n")
        for tag in root.find_all(_BLOCK_TAGS):
            tag.insert_before("\n")
            tag.insert_after("\n")
        return LoadedDocument(root.get_text(), title)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_CN_DIGITS = "零一二三四五六七八九"
_CN_LEGAL = "零壹贰叁肆伍陆柒捌玖"
_STEMS = "甲乙丙丁戊己庚辛壬癸"
_ROMAN = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"),
          (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))  # fmt: skip


def chinese_numeral(n: int, digits: str = _CN_DIGITS) -> str:
    """A counting number in Chinese (1 一, 10 十, 11 十一, 20 二十, 105 一百零五), below 10,000."""
    if n <= 0 or n >= 10_000:
        return str(n)
    out = ""
    zero = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d, n = divmod(n, value)
        if d:
            if zero:
                out += digits[0]
            out += digits[d] + unit
            zero = False
        elif out:
            zero = True
    # 十一, not 一十一, when the number starts with ten
    return out[1:] if out.startswith(digits[1] + "十") else out


def _number_text(n: int, fmt: str) -> str:
    """A list counter in one of Word's number formats (w:numFmt)."""
    if fmt in ("chineseCounting", "chineseCountingThousand", "japaneseCounting",
               "taiwaneseCounting", "koreanCounting", "taiwaneseCountingThousand"):  # fmt: skip
        return chinese_numeral(n)
    if fmt in ("chineseLegalSimplified", "japaneseLegal"):
        return chinese_numeral(n, _CN_LEGAL).translate(str.maketrans("十百千", "拾佰仟"))
    if fmt == "ideographDigital":
        return "".join(_CN_DIGITS[int(c)] for c in str(n))
    if fmt == "ideographTraditional" and 1 <= n <= 10:
        return _STEMS[n - 1]
    if fmt in ("decimalEnclosedCircle", "decimalEnclosedCircleChinese") and 1 <= n <= 20:
        return chr(0x2460 + n - 1)
    if fmt in ("lowerLetter", "upperLetter") and n >= 1:
        letter = chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)
        return letter if fmt == "lowerLetter" else letter.upper()
    if fmt in ("lowerRoman", "upperRoman") and n >= 1:
        roman, rest = "", n
        for value, sym in _ROMAN:
            while rest >= value:
                roman, rest = roman + sym, rest - value
        return roman if fmt == "lowerRoman" else roman.upper()
    if fmt == "decimalZero":
        return f"{n:02d}"
    if fmt in ("decimalFullWidth", "decimalFullWidth2"):
        return str(n).translate({ord(c): 0xFF10 + int(c) for c in "0123456789"})
    return str(n)


# A broken document can base a style on itself; the chain is followed this far at most.
_STYLE_CHAIN_MAX = 16


@dataclass(frozen=True)
class _Level:
    fmt: str
    text: str
    start: int
    suffix: str


class _Numbering:
    """Word's automatic list numbers (第一条, （一）, 1.), which a paragraph's text leaves out.

    Articles and list items are often numbered by Word rather than typed; without their labels
    a regulation loses its article numbers and a list item no longer reads as an item of the
    sentence that introduces it. Counters follow Word: one per list (a list restarted with a
    start override counts on its own), and a deeper level starts again under each new item.
    """

    def __init__(self, document: Any) -> None:
        self._levels: dict[str, dict[int, _Level]] = {}
        self._nums: dict[str, tuple[str, dict[int, int]]] = {}
        self._counters: dict[str, dict[int, int]] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            return
        for absn in root.findall(f"{_W}abstractNum"):
            levels: dict[int, _Level] = {}
            for lvl in absn.findall(f"{_W}lvl"):
                levels[_int(lvl.get(f"{_W}ilvl"), 0)] = _Level(
                    _val(lvl, "numFmt") or "decimal",
                    _val(lvl, "lvlText") or "",
                    _int(_val(lvl, "start"), 1),
                    _val(lvl, "suff") or "tab",
                )
            self._levels[absn.get(f"{_W}abstractNumId", "")] = levels
        for num in root.findall(f"{_W}num"):
            starts = {
                _int(o.get(f"{_W}ilvl"), 0): _int(_val(o, "startOverride"), 1)
                for o in num.findall(f"{_W}lvlOverride")
                if o.find(f"{_W}startOverride") is not None
            }
            self._nums[num.get(f"{_W}numId", "")] = (_val(num, "abstractNumId") or "", starts)

    def label(self, element: Any, style: Any) -> str:
        """The number Word shows before this paragraph ("" if none), counting it."""
        num_id, ilvl = self._num_of(element, style)
        if num_id is None or num_id not in self._nums:
            return ""
        abstract, starts = self._nums[num_id]
        levels = self._levels.get(abstract, {})
        lvl = levels.get(ilvl)
        if lvl is None:
            return ""
        counters = self._counters.setdefault(num_id if starts else abstract, {})
        counters[ilvl] = counters[ilvl] + 1 if ilvl in counters else starts.get(ilvl, lvl.start)
        for deeper in [k for k in counters if k > ilvl]:
            del counters[deeper]
        if lvl.fmt in ("bullet", "none") or not lvl.text:
            return ""

        def counter(m: re.Match[str]) -> str:
            k = int(m.group(1)) - 1
            at = levels.get(k)
            value = counters.get(k, at.start if at else 1)
            return _number_text(value, at.fmt if at else "decimal")

        text = re.sub(r"%(\d)", counter, lvl.text)
        # Word puts a tab (or space) after the number; closing punctuation needs no gap.
        gap = "" if lvl.suffix == "nothing" or re.search(r"[）)、．.：:]$", text) else " "
        return text + gap

    @staticmethod
    def _num_of(element: Any, style: Any) -> tuple[str | None, int]:
        """The list and level of a paragraph: its own, else its style's (or a base style's)."""
        num_pr = element.find(f"{_W}pPr/{_W}numPr")
        depth = 0
        while num_pr is None and style is not None and depth < _STYLE_CHAIN_MAX:
            num_pr = style.element.find(f"{_W}pPr/{_W}numPr")
            style = style.base_style
            depth += 1
        if num_pr is None:
            return None, 0
        num_id = _val(num_pr, "numId")
        if num_id in (None, "0"):  # numId 0 switches numbering off
            return None, 0
        return num_id, _int(_val(num_pr, "ilvl"), 0)


def _val(element: Any, child: str) -> str | None:
    """The w:val of a WordprocessingML child element, if present."""
    found = element.find(f"{_W}{child}")
    return None if found is None else found.get(f"{_W}val")


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
# Not the paragraph's text: its properties (tab stops are <w:tab> too), text a revision
# deleted or moved away (a moved run keeps <w:t>), text boxes (content of their own, and a
# drawing's fallback repeats it), field codes and the pinyin of a phonetic guide.
_NOT_TEXT = frozenset(
    {f"{_W}pPr", f"{_W}rPr", f"{_W}del", f"{_W}moveFrom", f"{_W}txbxContent", f"{_W}instrText",
     f"{_W}rt", _MC_FALLBACK}
)  # fmt: skip


def docx_text(paragraph: Any) -> str:
    """A Word paragraph's text as the document now reads, with its tracked revisions accepted.

    python-docx reads only the runs directly in the paragraph or a hyperlink, so text inserted
    with "track changes" on, a field's result (a cross-reference, a date) and a content
    control inside the paragraph were missing, and a sentence could lose its figure.
    """
    out: list[str] = []

    def walk(element: Any) -> None:
        for child in element:
            tag = child.tag
            if tag in _NOT_TEXT:
                continue
            if tag == f"{_W}t":
                out.append(child.text or "")
            elif tag == f"{_W}tab":
                out.append("\t")
            elif tag in (f"{_W}br", f"{_W}cr"):
                out.append("\n")
            elif tag == f"{_W}noBreakHyphen":
                out.append("-")
            else:
                walk(child)

    walk(paragraph)
    return "".join(out)


def _blocks(container: Any) -> Iterator[Any]:
    """The paragraphs and tables of a body or a table cell in order, also inside content
    controls and tracked insertions; a table of contents (itself a content control) is left
    out, as it only repeats the headings."""
    for child in container.iterchildren():
        tag = child.tag
        if tag in (f"{_W}p", f"{_W}tbl"):
            yield child
        elif tag == f"{_W}sdt":
            gallery = child.find(f"{_W}sdtPr/{_W}docPartObj/{_W}docPartGallery")
            if gallery is not None and "Contents" in (gallery.get(f"{_W}val") or ""):
                continue
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _blocks(content)
        elif tag in (f"{_W}ins", f"{_W}customXml", f"{_W}moveTo"):
            yield from _blocks(child)


class DocxLoader:
    """Word documents (.docx): paragraphs and tables in order, heading styles as outline, and
    Word's automatic list numbers as text."""

    suffixes: tuple[str, ...] = (".docx",)

    def load(self, path: Path) -> LoadedDocument:
        """Walk the document body in order."""
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        try:
            document = docx.Document(str(path))
        except Exception as exc:  # python-docx raises several types for a broken package
            raise LoadError("无法打开 Word 文档（文件损坏或不是 .docx 格式）") from exc
        title = (document.core_properties.title or "").strip() or None
        lines: list[str] = []
        numbering = _Numbering(document)
        for child in _blocks(document.element.body):
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "p":
                para = Paragraph(child, document)
                # Counted even on an empty paragraph, as Word does. A malformed numbering part
                # costs the numbers, not the document.
                try:
                    number = numbering.label(child, para.style)
                except (AttributeError, KeyError, TypeError, ValueError):
                    number = ""
                text = docx_text(child).strip()
                if not text:
                    continue
                text = number + text
                style = (para.style.name if para.style is not None else "") or ""
                level = re.search(r"(?:Heading|标题)\s*(\d)", style)
                if style == "Title" and title is None:
                    title = text
                elif level:
                    lines.append(f"{'#' * int(level.group(1))} {text}")
                else:
                    lines.append(text)
            elif tag == "tbl":
                rows = Table(child, document).rows
                texts = [
                    [
                        "\n".join(
                            docx_text(p) for p in _blocks(cell._tc) if p.tag == f"{_W}p"
                        ).strip()
                        for cell in row.cells
                    ]
                    for row in rows
                ]
                # A row marked "repeat as header row" names the columns; few authors mark it.
                first = child.find(f"{_W}tr")
                marked = len(texts) > 1 and (
                    (first is not None and first.find(f"{_W}trPr/{_W}tblHeader") is not None)
                    or names_columns(texts)
                )
                lines.extend(table_lines(texts[1:], texts[0]) if marked else table_lines(texts))
        return LoadedDocument("\n".join(lines), title)


class PdfLoader:
    """PDF with a text layer; lines broken by the page layout are joined again."""

    suffixes: tuple[str, ...] = (".pdf",)

    def load(self, path: Path) -> LoadedDocument:
        """Extract the text of every page."""
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(str(path))
            # Many PDFs are "encrypted" only against editing, with an empty password to open.
            if reader.is_encrypted and not _open_without_password(reader):
                raise LoadError(prompts.load("pdf_password"))
            pages = [_page_text(page) for page in reader.pages]
            meta_title = (reader.metadata.title if reader.metadata else None) or None
        except LoadError:
            raise
        except (PdfReadError, ValueError, KeyError, OSError) as exc:
            raise LoadError("无法读取 PDF（文件损坏或格式不受支持）") from exc
        text = "\n".join(strip_page_furniture(pages))
        if not text.strip():
            raise LoadError("PDF 中没有可提取的文字（可能是扫描件，请先做文字识别）")
        return LoadedDocument(_rejoin(text, apart=first_page_header(pages)), meta_title)


# A page whose plain text has at least this many lines, most of them one or two characters
# long, was drawn a character at a time.
_GLYPH_PAGE_LINES = 20
_GLYPH_SHARE = 0.6


def _page_text(page: Any) -> str:
    """A page's text: plain extraction, or by position where that falls apart into glyphs.

    Some producers (converters from OFD or scans, some OA systems) draw every character as a
    text object of its own; the plain extraction then puts each character on its own line, so
    headings run into their paragraphs. The layout extraction places characters by their
    position on the page, so a printed line comes back as one line, with its indent.
    """
    text = page.extract_text() or ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    short = sum(len(ln) <= 2 for ln in lines)
    if len(lines) < _GLYPH_PAGE_LINES or short < _GLYPH_SHARE * len(lines):
        return text
    try:
        laid = page.extract_text(extraction_mode="layout") or ""
    except Exception:  # pypdf's layout mode is younger; the plain text is still usable
        return text
    return laid if laid.strip() else text


def _open_without_password(reader: Any) -> bool:
    """Whether an encrypted PDF opens with the empty user password (owner password only)."""
    from pypdf.errors import DependencyError, PdfReadError

    try:
        return bool(reader.decrypt(""))
    except DependencyError as exc:  # AES needs the cryptography package
        raise LoadError(prompts.load("pdf_crypto_missing")) from exc
    except (PdfReadError, NotImplementedError, ValueError):
        return False


# A page number on its own line: 12, - 12 -, — 12 —, 第12页, 12/40, 第 12 页 共 40 页.
_PAGE_NUMBER = re.compile(
    r"^[-—－–\s]*(?:第\s*)?\d{1,4}(?:\s*页)?(?:\s*[/／]\s*\d{1,4}|\s*共\s*\d{1,4}\s*页)?[-—－–\s]*$"
)
# Lines this close to a page's top or bottom may be its running header or footer.
_EDGE = 2


def _edge_key(line: str) -> str:
    """A line compared across pages: white space and digits aside ("第3页" = "第4页")."""
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", line))


def _running_lines(split: list[list[str]]) -> set[str]:
    """Keys of the lines among a page's first or last lines on at least half of the pages, and
    on two at least (a two-page notice's letterhead is on both)."""
    seen: dict[str, int] = {}
    for lines in split:
        for k in {_edge_key(ln) for ln in lines[:_EDGE] + lines[-_EDGE:]}:
            seen[k] = seen.get(k, 0) + 1
    return {k for k, n in seen.items() if n >= 2 and n >= len(split) / 2}


def _split_pages(pages: list[str]) -> list[list[str]]:
    # Leading white space is kept: it is the first-line indent that marks a paragraph.
    return [[ln.rstrip() for ln in page.splitlines() if ln.strip()] for page in pages]


def strip_page_furniture(pages: list[str]) -> list[str]:
    """Drop page numbers and the running header and footer from each page's edges.

    A line is furniture when it sits among a page's first or last lines on at least half of
    the pages, and on two at least (digits aside: "第3页" and "第4页" are the same line). Left
    in, a header lands in the middle of every sentence that runs over a page break. The first
    page keeps its top lines, where the running header is usually the document's title (see
    `first_page_header`).
    """
    split = _split_pages(pages)
    repeated = _running_lines(split)
    out = []
    for number, lines in enumerate(split):
        bottom_from = len(lines) - _EDGE
        kept = []
        for i, line in enumerate(lines):
            top, bottom = i < _EDGE, i >= bottom_from
            furniture = (top or bottom) and (
                bool(_PAGE_NUMBER.match(line.strip()))
                or (_edge_key(line) in repeated and not (number == 0 and top))
            )
            if not furniture:
                kept.append(line)
        out.append("\n".join(kept))
    return out


def first_page_header(pages: list[str]) -> set[str]:
    """The first page's top lines that the other pages repeat as their running header.

    Kept (it is often the title), such a line is still a line of its own: an issuer's
    letterhead ("某省教育考试院文件") above the title is not the title's first half.
    """
    split = _split_pages(pages)
    repeated = _running_lines(split)
    top = split[0][:_EDGE] if split else []
    return {ln.strip() for ln in top if _edge_key(ln) in repeated}


_HARD_END = re.compile(r"[。！？!?]$")
_LINE_END = re.compile(r"[。！？；：:!?;”）)]$")
_LINE_START_OUTLINE = re.compile(
    r"^(#|第[一二三四五六七八九十百\d]+[章节条]|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[）)]|\d{1,2}[.、．])"
)
# Lines above the first that holds any of these are the head: title, issuer, issue number.
_PUNCTUATED = re.compile(r"[，。；：！？,;:!?]")
# A 公文's issue number, 〔2026〕5号: a line of its own above the title.
_ISSUE_NUMBER = re.compile(r"[〔［\[(（]\s*\d{4}\s*[〕］\])）]\s*\d+\s*号")
# Page geometry needs enough lines to tell a full line from a short one.
_MIN_LINES_FOR_GEOMETRY = 8
# A first-line indent of two characters comes out of the text layer as one space.
_INDENT_WIDTH = 2.0
# A line this close to the usual full width was wrapped by the layout; a heading, a title, a
# signature or a table cell is much shorter (a wrap forced early by an unbreakable number
# still reaches it).
_FULL_SHARE = 0.8


def _width(line: str) -> float:
    """Printed width in CJK character cells: a Latin letter or digit takes about half."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WFA" else 0.5 for ch in line)


# Lines of a text broken at a fixed width are at least this wide (a short line is a heading).
_WRAP_MIN = 16


def hard_wrapped(text: str) -> bool:
    """Whether a plain text was saved with its lines broken at a fixed width (copied out of a
    PDF or a mail), not one paragraph per line: many lines share one width, within a
    character, and most of them stop mid-sentence."""
    rows = [(ln.strip(), ln[:1].isspace()) for ln in text.splitlines() if ln.strip()]
    rows = [(t, ind) for t, ind in rows if cjk_ratio(t) >= 0.5]
    if len(rows) < _MIN_LINES_FOR_GEOMETRY:
        return False
    indent = [_INDENT_WIDTH if ind else 0.0 for _, ind in rows]
    # A tool wraps by printed width or by character count; try both.
    for widths in (
        [_width(t) + i for (t, _), i in zip(rows, indent, strict=True)],
        [len(t) + i for (t, _), i in zip(rows, indent, strict=True)],
    ):
        wide = [round(w) for w in widths if w >= _WRAP_MIN]
        if not wide:
            continue
        mode = Counter(wide).most_common(1)[0][0]
        at = [t for (t, _), w in zip(rows, widths, strict=True) if abs(w - mode) <= 1]
        open_ended = sum(not _HARD_END.search(t) for t in at)
        if len(at) >= 0.3 * len(rows) and open_ended >= 0.5 * len(at):
            return True
    return False


def _rejoin(text: str, apart: Collection[str] = ()) -> str:
    """Join the lines a page layout wrapped (a PDF's, or a text copied out of one), keep the
    lines its author broke.

    A line ends its paragraph when the next opens an outline item or is indented (where
    indentation marks paragraphs), when it ends a sentence, or when it stops short of the
    page's full width (a heading, a title, a signature, a table cell). Without enough lines
    to know the full width, a line continues unless it ends with punctuation. In the head
    (the lines above the first punctuated one) a title wrapped over lines is joined, even when
    centring indents its second line, but not with an issue number or a bracketed line.
    A line in `apart` (a running header left on the first page) is never joined.
    """
    rows = [(ln.strip(), ln[:1].isspace()) for ln in text.splitlines() if ln.strip()]
    cjk_rows = [
        _width(t) + (_INDENT_WIDTH if ind else 0.0) for t, ind in rows if cjk_ratio(t) >= 0.5
    ]
    full = None
    if len(cjk_rows) >= _MIN_LINES_FOR_GEOMETRY:
        full = _FULL_SHARE * sorted(cjk_rows)[int(0.9 * (len(cjk_rows) - 1))]
    indented = sum(ind for _, ind in rows)
    # A first-line indent follows the end of a paragraph or a heading; a hanging indent (a
    # Word list's wrapped lines) follows a full line broken mid-sentence and marks nothing.
    after_end = sum(
        ind
        and (
            bool(_LINE_END.search(before))
            or (full is not None and _width(before) + (_INDENT_WIDTH if b_ind else 0.0) < full)
        )
        for (before, b_ind), (_, ind) in itertools.pairwise(rows)
    )
    indent_marks = 0.05 * len(rows) <= indented <= 0.8 * len(rows) and after_end >= indented / 2

    out: list[str] = []
    prev, prev_indented, head = "", False, True
    for line, ind in rows:
        joins = prev not in apart and line not in apart
        if out and joins and _continues(prev, prev_indented, line, ind, full, indent_marks, head):
            # A wrapped line continues the sentence; Latin words keep their space.
            gap = " " if prev[-1:].isascii() and line[:1].isascii() else ""
            out[-1] += gap + line
        else:
            out.append(line)
        head = head and not _PUNCTUATED.search(line)
        prev, prev_indented = line, ind
    return "\n".join(out)


def _continues(
    prev: str,
    prev_indented: bool,
    line: str,
    indented: bool,
    full: float | None,
    indent_marks: bool,
    head: bool,
) -> bool:
    """Whether `line` continues the paragraph of the physical line `prev` above it."""
    if _LINE_START_OUTLINE.match(line) or _HARD_END.search(prev):
        return False
    if head and not _PUNCTUATED.search(line):
        # "（2024年修订）" or the adoption history in brackets is a line of its own.
        return not (
            _LINE_END.search(prev)
            or line.startswith(("（", "("))
            or _ISSUE_NUMBER.search(prev)
            or _ISSUE_NUMBER.search(line)
        )
    if indent_marks and indented:
        return False
    if full is None or cjk_ratio(prev) < 0.5:
        return not _LINE_END.search(prev)
    return _width(prev) + (_INDENT_WIDTH if prev_indented else 0.0) >= full


LOADERS: dict[str, Loader] = {
    suffix: loader
    for loader in (TextLoader(), MarkdownLoader(), HtmlLoader(), DocxLoader(), PdfLoader())
    for suffix in loader.suffixes
}


def supported(path: Path) -> bool:
    """Whether a loader exists for the file's suffix."""
    return path.suffix.lower() in LOADERS


# Formats an office keeps that kaowu does not read, and what to turn each into. Saving as one
# of the supported formats is the fix a user can make in the program they already have.
_CONVERT_ADVICE = {
    "unsupported_word": (".doc", ".dot", ".wps", ".wpt", ".rtf", ".odt"),
    "unsupported_sheet": (".xls", ".xlsx", ".et", ".csv", ".ods"),
    "unsupported_slides": (".ppt", ".pptx", ".dps", ".odp"),
    "unsupported_ofd": (".ofd",),
    "unsupported_image": (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif"),
    "unsupported_archive": (".zip", ".rar", ".7z"),
}
_ADVICE = {suffix: name for name, suffixes in _CONVERT_ADVICE.items() for suffix in suffixes}


def convert_advice(path: Path) -> str:
    """How to turn a file of an unread office format into one kaowu reads ("" if unknown)."""
    name = _ADVICE.get(path.suffix.lower())
    return prompts.load(name) if name else ""


def unsupported_reason(path: Path) -> str:
    """Why a file of this type is not read, and how to make it readable."""
    return prompts.render(
        "unsupported_type", suffix=path.suffix or "（无扩展名）", advice=convert_advice(path)
    )


def load(path: Path) -> LoadedDocument:
    """Load one file with the loader for its suffix; raises LoadError with a Chinese reason."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoadError(unsupported_reason(path))
    try:
        if path.stat().st_size == 0:
            raise LoadError("文件为空")
        doc = loader.load(path)
    except PermissionError as exc:
        raise LoadError("没有读取权限") from exc
    except OSError as exc:
        raise LoadError(f"无法读取文件：{exc.strerror or exc}") from exc
    if not doc.text.strip():
        raise LoadError("文件中没有文字内容")
    return doc
