"""One loader per file format, all behind `load(path) -> LoadedDocument`.

Loaders only extract text and structure; cleaning is shared (`ingest.clean`). Structured formats
mark headings as Markdown (`## 标题`) so the chunker sees one outline syntax for all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import prompts


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
        """Decode the file."""
        return LoadedDocument(decode_text(path.read_bytes()))


class MarkdownLoader:
    """Markdown (.md): headings kept as outline, inline markup removed."""

    suffixes: tuple[str, ...] = (".md", ".markdown")

    def load(self, path: Path) -> LoadedDocument:
        """Decode, drop front matter and markup, take the first level-1 heading as title."""
        text = decode_text(path.read_bytes())
        text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.DOTALL)
        text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
        title = None
        lines: list[str] = []
        for line in text.splitlines():
            stripped = line.strip()
            if title is None and re.match(r"^#\s+\S", stripped):
                title = stripped.lstrip("#").strip()
                continue
            if re.fullmatch(r"\|?[\s:|-]+\|?", stripped) and "-" in stripped:
                continue  # table separator row
            if stripped.startswith("|"):
                stripped = "；".join(c.strip() for c in stripped.strip("|").split("|") if c.strip())
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


class HtmlLoader:
    """HTML pages: the main content element, headings as outline, site chrome dropped."""

    suffixes: tuple[str, ...] = (".html", ".htm")

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
        h1 = root.find("h1")
        title = (h1.get_text(" ", strip=True) if h1 else None) or (
            title_tag.get_text(" ", strip=True) if title_tag else None
        )
        for level in range(1, 7):
            for h in root.find_all(f"h{level}"):
                text = h.get_text(" ", strip=True)
                h.replace_with(f"\n{'#' * level} {text}\n" if text != title else "\n")
        for tag in root.find_all(_BLOCK_TAGS):
            tag.insert_before("\n")
            tag.insert_after("\n")
        return LoadedDocument(root.get_text(), title)


class DocxLoader:
    """Word documents (.docx): paragraphs and tables in order, heading styles as outline."""

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
        body = document.element.body
        for child in body.iterchildren():
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "p":
                para = Paragraph(child, document)
                text = para.text.strip()
                if not text:
                    continue
                style = (para.style.name if para.style is not None else "") or ""
                level = re.search(r"(?:Heading|标题)\s*(\d)", style)
                if style == "Title" and title is None:
                    title = text
                elif level:
                    lines.append(f"{'#' * int(level.group(1))} {text}")
                else:
                    lines.append(text)
            elif tag == "tbl":
                for row in Table(child, document).rows:
                    cells: list[str] = []
                    for cell in row.cells:
                        value = cell.text.strip()
                        if value and (not cells or cells[-1] != value):
                            cells.append(value)
                    if cells:
                        lines.append("；".join(cells))
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
            pages = [page.extract_text() or "" for page in reader.pages]
            meta_title = (reader.metadata.title if reader.metadata else None) or None
        except LoadError:
            raise
        except (PdfReadError, ValueError, KeyError, OSError) as exc:
            raise LoadError("无法读取 PDF（文件损坏或格式不受支持）") from exc
        text = "\n".join(strip_page_furniture(pages))
        if not text.strip():
            raise LoadError("PDF 中没有可提取的文字（可能是扫描件，请先做文字识别）")
        return LoadedDocument(_rejoin(text), meta_title)


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


def strip_page_furniture(pages: list[str]) -> list[str]:
    """Drop page numbers and the running header and footer from each page's edges.

    A line is furniture when it sits among a page's first or last lines on at least half of
    the pages (digits aside: "第3页" and "第4页" are the same line). Left in, a header lands
    in the middle of every sentence that runs over a page break. The first page keeps its top
    lines, where the running header is usually the document's title.
    """
    split = [[ln.strip() for ln in page.splitlines() if ln.strip()] for page in pages]

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", re.sub(r"\s+", "", line))

    seen: dict[str, int] = {}
    for lines in split:
        for k in {key(ln) for ln in lines[:_EDGE] + lines[-_EDGE:]}:
            seen[k] = seen.get(k, 0) + 1
    repeated = {k for k, n in seen.items() if len(split) >= 3 and n >= len(split) / 2}
    out = []
    for number, lines in enumerate(split):
        bottom_from = len(lines) - _EDGE
        kept = []
        for i, line in enumerate(lines):
            top, bottom = i < _EDGE, i >= bottom_from
            furniture = (top or bottom) and (
                bool(_PAGE_NUMBER.match(line))
                or (key(line) in repeated and not (number == 0 and top))
            )
            if not furniture:
                kept.append(line)
        out.append("\n".join(kept))
    return out


_LINE_END = re.compile(r"[。！？；：:!?;”）)]$")
_LINE_START_OUTLINE = re.compile(
    r"^(#|第[一二三四五六七八九十百\d]+[章节条]|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[）)]|\d{1,2}[.、．])"
)


def _rejoin(text: str) -> str:
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if out and not _LINE_END.search(out[-1]) and not _LINE_START_OUTLINE.match(line):
            # A wrapped line continues the sentence; Latin words keep their space.
            gap = " " if out[-1][-1:].isascii() and line[:1].isascii() else ""
            out[-1] += gap + line
        else:
            out.append(line)
    return "\n".join(out)


LOADERS: dict[str, Loader] = {
    suffix: loader
    for loader in (TextLoader(), MarkdownLoader(), HtmlLoader(), DocxLoader(), PdfLoader())
    for suffix in loader.suffixes
}


def supported(path: Path) -> bool:
    """Whether a loader exists for the file's suffix."""
    return path.suffix.lower() in LOADERS


def load(path: Path) -> LoadedDocument:
    """Load one file with the loader for its suffix; raises LoadError with a Chinese reason."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoadError(
            f"不支持的文件类型 {path.suffix or '（无扩展名）'}（支持 .txt .md .html .docx .pdf）"
        )
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
