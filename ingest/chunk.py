"""Chunking along the outline of Chinese official texts.

Outline markers (一、 / （一） / 1. / （1） / 一是 / 一要 / 第一， / 第X章 / 第X条 / Markdown #) are
recognised at the start of a line or right after a sentence end, and only when they continue a
numbering (二 after 一) or open a new one at 一, so "统一是" or a stray "3." do not start sections.
Articles, chapters and 节 may also skip ahead, or insert 第X条之一, when the number starts a line
and is not cited there: laws are excerpted, amended and scraped with gaps. The order in which
marker kinds appear sets their nesting, as a reader would infer it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.units import ITEM, opens_with_heading, sentences

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN = "一二三四五六七八九十百零〇"
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"

# (kind, pattern); the first group is the number. Order matters: longer forms first.
_MARKERS: list[tuple[str, re.Pattern[str]]] = [
    ("chapter", re.compile(rf"第([{_CN}\d]{{1,7}})[章编]")),
    ("part", re.compile(rf"第([{_CN}\d]{{1,7}})节")),
    # 第二百八十条之一: an article an amendment inserted after 第二百八十条
    ("article", re.compile(rf"第([{_CN}\d]{{1,7}})条(?P<sub>之[一二三四五六七八九十]{{1,3}})?")),
    ("cn_ordinal", re.compile(r"第([一二三四五六七八九十]{1,3})[，,、]")),
    ("cn_dun", re.compile(r"([一二三四五六七八九十]{1,3})[、．]")),
    ("cn_paren", re.compile(r"[（(]([一二三四五六七八九十]{1,3})[)）]")),
    ("ar_paren", re.compile(r"[（(](\d{1,2})[)）]")),
    ("ar_dot", re.compile(r"(\d{1,2})(?:[、．]|\.(?!\d))")),
    ("circled", re.compile(rf"([{_CIRCLED}])")),
    ("cn_shi", re.compile(r"([一二三四五六七八九十]{1,3})是")),
    ("cn_yao", re.compile(r"([一二三四五六七八九十]{1,3})要")),
]
# Numbering that runs across the whole document rather than restarting under each parent.
_GLOBAL_KINDS = {"chapter", "part", "article"}
_MD_HEADING = re.compile(r"(#{1,6})[ \t]+(.+)")
# An attachment ("附件1", "附件2：考生须知", a lone "附件") starts a document of its own at the end
# of a notice: its numbering starts again, and nothing in it belongs to the notice's last
# section. The list of attachments in the notice ("附件：1.考生须知") is not one.
_ANNEX = re.compile(
    r"附\s*件[ \t]*(?:(?P<n>[一二三四五六七八九十\d]{1,2})[ \t]*[：:]?|(?=[ \t]*\n|[ \t]*$))"
    r"[ \t]*(?P<title>[^\n]*)"
)
_ANNEX_TITLE_MAX = 30
_SENTENCE_PUNCT = re.compile(r"[，,。；;！？!?]")
# Where a marker may begin: start of text or line, or after a sentence end / colon.
_BOUNDARY = re.compile(r"(?:^|\n|(?<=[。！？；：:;!?]))[ \t]*|(?<=[。！？；;!?][”’」』])")
# A marker at the start of a line is a heading of its own ("第五条　考生…", or run on as
# "第五条考生…" in some scraped pages), unless the words after it cite it ("第五条规定的…").
_CITED_AFTER = re.compile(r"[规的、，,和及与至或第款项中所]")
# A colon ends a label, but not the one in a time of day (下午3:00).
_LABEL_END = re.compile(r"[，,。；;！？!?\n]|[：:](?!\d)")


def cn_number(token: str) -> int | None:
    """Value of a Chinese or Arabic numeral up to 9999 ("十二" -> 12, "3" -> 3, "②" -> 2)."""
    if token in _CIRCLED:  # "②".isdigit() is True, so test this first
        return _CIRCLED.index(token) + 1
    if token.isascii() and token.isdigit():
        return int(token)
    total, current = 0, 0
    units = {"十": 10, "百": 100, "千": 1000}
    for ch in token:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch in units:
            total += (current or 1) * units[ch]
            current = 0
        else:
            return None
    return total + current


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of a cleaned document, with its place in the outline."""

    ord: int
    start: int
    end: int
    text: str
    section: tuple[str, ...]
    headings: tuple[str, ...] = ()
    # The section is this one line, with no body and no subsections below it: an entry of a
    # list of bare lines ("1.考生须携带准考证、身份证") or a label with its value ("二、考试地点：
    # 市一中"), not a heading over something else.
    lone: bool = False

    @property
    def section_path(self) -> str:
        """Section labels joined the way citations show them."""
        return " > ".join(self.section)

    @property
    def context(self) -> str:
        """Full heading sentences above the chunk (the labels are shortened for display)."""
        return "\n".join(self.headings)


@dataclass
class _Open:
    kind: str
    number: int
    label: str
    heading: str
    listed: bool = False  # an item of a list that a colon introduces
    paragraphs: int = 1  # this item's paragraphs so far
    single_before: bool = True  # every earlier item of its list was one paragraph
    bare_before: bool = True  # ... and ended without punctuation (a list of bare entries)


_HEADING_END = re.compile(r"[。！？；;!?\n]")
_GLOBAL_MARKER_END = re.compile(r"[章节条编](?:之[一二三四五六七八九十]+)?$")


def _label(text: str, at: int, marker_end: int, cap: int = 16) -> tuple[str, str]:
    """Short label (marker + first clause) and full heading (marker + first sentence)."""
    marker = text[at:marker_end].strip()
    rest = text[marker_end : marker_end + 200]
    stop = _LABEL_END.search(rest)
    head = (rest[: stop.start()] if stop else rest).strip()
    if len(head) > cap:
        head = head[:cap] + "…"
    stop = _HEADING_END.search(rest)
    full = (rest[: stop.start()] if stop else rest).strip()[:60]
    sep = " " if _GLOBAL_MARKER_END.search(marker) and head else ""  # 第二章 考务, as printed
    return marker + sep + head, marker + sep + full


Section = tuple[int, tuple[str, ...], tuple[str, ...]]


def outline(text: str) -> list[Section]:
    """Section starts: (offset, labels, full headings) in document order, the first at 0."""
    stack: list[_Open] = []
    last_global: dict[str, int] = {}
    starts: list[Section] = [(0, (), ())]
    for b in _BOUNDARY.finditer(text):
        pos = b.end()
        if pos >= len(text):
            continue
        line_start = b.start() == 0 or text[b.start()] == "\n"
        md = _MD_HEADING.match(text, pos) if (pos == 0 or text[pos - 1] == "\n") else None
        annex = _annex(text, pos, stack) if line_start and not md else None
        if annex is not None:
            stack[:] = [annex]
            last_global.clear()
            starts.append(_snapshot(pos, stack))
            continue
        if md:
            level = len(md.group(1))
            while stack and (
                stack[-1].kind != "annex"
                and (not stack[-1].kind.startswith("h") or int(stack[-1].kind[1:]) >= level)
            ):
                stack.pop()
            label = md.group(2).strip()
            short = label[:30] + ("…" if len(label) > 30 else "")
            stack.append(_Open(f"h{level}", 0, short, label[:60]))
            starts.append(_snapshot(pos, stack))
            continue
        for kind, pattern in _MARKERS:
            m = pattern.match(text, pos)
            if not m:
                continue
            number = cn_number(m.group(1))
            line_head = line_start and not _CITED_AFTER.match(text, m.end())
            sub = bool(m.groupdict().get("sub"))
            if number is None or not _accept(stack, last_global, kind, number, line_head, sub):
                continue
            depth = next((i for i, o in enumerate(stack) if o.kind == kind), None)
            opened = _Open(kind, number, *_label(text, pos, m.end()))
            if kind not in _GLOBAL_KINDS:
                before = stack[depth] if depth is not None else None
                if before is not None and number == before.number + 1:
                    opened.listed = before.listed
                    opened.single_before = before.single_before and before.paragraphs == 1
                    opened.bare_before = (
                        before.bare_before
                        and opened.single_before
                        and _char_before(text, pos) not in _ITEM_ENDS
                    )
                else:
                    opened.listed = _char_before(text, pos) in ("：", ":")
            if depth is not None:
                del stack[depth:]
            stack.append(opened)
            if kind in _GLOBAL_KINDS:
                last_global[kind] = number
            if kind == "chapter":
                last_global.pop("part", None)  # 第一节 starts again in each chapter
            starts.append(_snapshot(pos, stack))
            break
        else:
            if line_start and text[pos] != "\n" and stack and stack[-1].listed:
                _paragraph_after_item(stack, starts, pos, _char_before(text, pos))
    # Two markers at one offset (a heading right after another) keep the deeper path.
    dedup: dict[int, Section] = {}
    for sec in starts:
        dedup[sec[0]] = sec
    return [dedup[pos] for pos in sorted(dedup)]


def _annex(text: str, pos: int, stack: list[_Open]) -> _Open | None:
    """The attachment a line at `pos` opens ("附件1" and the title on it or on the next line),
    or None."""
    m = _ANNEX.match(text, pos)
    if not m:
        return None
    number = cn_number(m.group("n")) if m.group("n") else 1
    before = next((o.number for o in stack if o.kind == "annex"), 0)
    title = m.group("title").strip()
    if number is None or number != before + 1 or _SENTENCE_PUNCT.search(title):
        return None
    marker = re.sub(r"\s+", "", text[pos : m.start("title")])
    if title:
        # "附件2：监考员守则", as printed
        if len(title) > _ANNEX_TITLE_MAX:
            return None
        label = marker + title
    else:
        # The title is usually the next line: "附件1" / "考生须知".
        nxt = text[m.end() :].lstrip("\n").split("\n", 1)[0].strip()
        listed = bool(ITEM.match(nxt))  # an entry of a list, not a title
        if listed and not m.group("n"):
            return None  # "附件" over the list of a notice's attachments
        ok = nxt and not listed and len(nxt) <= _ANNEX_TITLE_MAX and not _SENTENCE_PUNCT.search(nxt)
        label = f"{marker.rstrip('：:')} {nxt}" if ok else marker.rstrip("：:")
    return _Open("annex", number, label, label)


# How an item that is a whole clause ends, as opposed to an item that is a title.
_ITEM_ENDS = frozenset("。；;，,、.！？!?")


def _char_before(text: str, pos: int) -> str:
    """The last character before `pos` that is not white space ("" at the start)."""
    i = pos
    while i > 0 and text[i - 1].isspace():
        i -= 1
    return text[i - 1] if i > 0 else ""


def _paragraph_after_item(
    stack: list[_Open], starts: list[Section], pos: int, item_end: str
) -> None:
    """A paragraph without a number after a list of one-paragraph items ("（四）…的。" then "有前款
    行为的，…") belongs to what introduced the list, not to the last item. An item that is a
    title ("二、考试地点") or already ran over several paragraphs keeps its paragraphs. In a list
    of bare entries ("（一）2B铅笔" "（二）橡皮"), the last one is an entry like the others."""
    top = stack[-1]
    complete = item_end in _ITEM_ENDS or (top.bare_before and item_end not in ("：", ":"))
    if complete and top.number >= 2 and top.single_before and top.paragraphs == 1:
        # Only this list ends: a list that holds it ("通知如下：" then "一、…") goes on, so its
        # next heading ("二、…") still opens a section.
        stack.pop()
        starts.append(_snapshot(pos, stack))
    else:
        top.paragraphs += 1


def _snapshot(pos: int, stack: list[_Open]) -> Section:
    return pos, tuple(o.label for o in stack), tuple(o.heading for o in stack)


def _accept(
    stack: list[_Open],
    last_global: dict[str, int],
    kind: str,
    number: int,
    line_head: bool = False,
    sub: bool = False,
) -> bool:
    prev = next((o.number for o in stack if o.kind == kind), None)
    if prev is None and kind in _GLOBAL_KINDS:
        prev = last_global.get(kind)
    if prev is None:
        return number == 1 or (kind in _GLOBAL_KINDS and line_head)
    if number == prev + 1 and not sub:
        return True
    # Excerpts skip articles, a scraped page may lose one, amendments insert 第X条之一: an
    # article number that starts a line (and is not cited there) still opens an article,
    # unless it runs backwards.
    return kind in _GLOBAL_KINDS and line_head and (number > prev or (number == prev and sub))


def chunk_text(text: str, max_chars: int = 260) -> list[Chunk]:
    """Cut a cleaned document into sentence-aligned chunks that never cross a section start.

    A section that is only its heading line, directly followed by its own subsections, gets no
    chunk of its own: its heading is part of every subsection's context.
    """
    sections = outline(text)
    bounds = [sec[0] for sec in sections] + [len(text)]
    chunks: list[Chunk] = []
    for i, (start, path, heads) in enumerate(sections):
        body = text[start : bounds[i + 1]]
        if not body.strip():
            continue
        nxt = sections[i + 1] if i + 1 < len(sections) else None
        # A heading may run over two lines ("附件1" / "考生须知").
        heading_only = bool(heads) and re.sub(r"\s", "", body) == re.sub(r"\s", "", heads[-1])
        # A line that ends with a colon introduces the list below it ("第九条 考生享有下列权利：");
        # it is kept, so that each item can be quoted with it.
        lead_in = heads[-1].endswith(("：", ":")) if heads else False
        if heading_only and not lead_in and nxt is not None and nxt[1][: len(path)] == path:
            continue
        lone = heading_only and not lead_in
        window: list[tuple[int, int]] = []
        # Windows end between whole sentences, also where one was broken over lines.
        for s in sentences(body, start, opens_with_heading(body, heads)):
            if window and s.end - window[0][0] > max_chars:
                chunks.append(_make(text, len(chunks), window, path, heads))
                window = []
            window.append((s.start, s.end))
        if window:
            chunks.append(_make(text, len(chunks), window, path, heads, lone))
    return [c for c in chunks if c.text]


def _make(
    text: str,
    ord_: int,
    window: list[tuple[int, int]],
    path: tuple[str, ...],
    heads: tuple[str, ...],
    lone: bool = False,
) -> Chunk:
    start, end = window[0][0], window[-1][1]
    return Chunk(ord_, start, end, text[start:end].strip(), path, heads, lone)
