"""Evidence units: the sentences (or list lead-in + item pairs) that answers quote.

A chunk is what search finds; a unit is what kaowu quotes. Each unit gets its own vector at
ingest, so a question is matched by meaning against single sentences, not only against whole
passages. A list item is quoted together with the sentence that introduces it ("有下列行为之一
的，应当认定为考试作弊：……（四）携带具有发送或者接收信息功能的设备的"), because the item alone does
not say what it is an item of. Headings are never units: a heading is a topic, not an answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from knowledge.textutil import Span, split_sentences

# A list item opens with its own number: （一） (1) 1. 1、 ① 一、, or with a bullet (● - ·)
ITEM = re.compile(
    r"^(?:[（(][一二三四五六七八九十\d]{1,3}[)）]|\d{1,2}[.．、](?!\d)|[①-⑳]|[一二三四五六七八九十]{1,3}、"
    r"|[●•▪■◆◇○□·]|[-*](?=\s*[\u3400-\u9fff]))"
)
# A sentence that introduces a list ends with a colon.
_LEAD_IN = re.compile(r"[：:]$")
# "现将有关事项通知如下。" announces the points of the document below it and, unlike a colon's
# list, is not part of what they say: it is neither a unit nor quoted with them.
_ANNOUNCES = re.compile(r"如下[。．.]$")
# Sentence-final punctuation: a line without it that opens a section is a heading.
_FINAL = re.compile(r"[。！？!?；;：:”’」』）)]$")
# A lead-in older than this (characters) no longer governs what follows.
_LEAD_IN_REACH = 1500
# A lead-in runs back over its "；"-separated clauses to the previous full stop. Its items
# quote it whole within this many characters (a longer one keeps its last clauses): its first
# clauses say whom the list is about and often what happens to them ("考生…有下列行为之一的，由…
# 终止其继续参加考试；…情节严重的，…：……（三）抄袭他人答案的"), and cut off, an article on
# candidates read like one on anyone (held out at 90 -> 200: laws 0.625 -> 0.667 hit@1; the
# seed speeches 0.70 -> 0.65 on seeds-more by the refitted model alone, their units unchanged).
_LEAD_IN_QUOTED = 200
# ... while an item's vector carries only the lead-in's last clauses within this many, so that
# the item's own words still weigh in it: with the whole lead-in in the vector, the items of a
# long article came out alike and the laws lost three questions to the wrong item.
_LEAD_IN_EMBEDDED = 90
_FULL_STOP = re.compile(r"[。！？!?\n]")
_MIN_CONTENT = 6
# A list entry needs only a word after its number or bullet ("（一）警告；", "● 橡皮"): its
# lead-in says the rest.
_MIN_ITEM = 2
# A section body quoted after its title needs a word of its own ("市一中。", not "无。").
_MIN_BODY = 3
_NUMERAL = r"第[一二三四五六七八九十百零〇\d]+"
# A line that opens a part of its own: a numbered item, an article, a chapter.
_OPENS_PART = re.compile(rf"{ITEM.pattern}|^{_NUMERAL}[章节条编]")
# A chapter, part or section title, an attachment's, or a marked-up heading: a title even with
# nothing below it.
_DIVISION = re.compile(rf"^(?:#|{_NUMERAL}[章节编]|附\s*件)")
# Punctuation that already separates the two halves of a sentence broken after it.
_CONTINUING = "，,、"
# A label with its value ("报名时间：8月25日至31日", "确认地点：各区县招生办") is a statement of
# its own, though it has no full stop: the lines of a list of them are not one sentence.
_LABELLED = re.compile(r"^[^，。；：:,;]{1,15}[：:]\s*\S")
# A date on a line of its own under the issuer's name signs a notice (the 落款): neither line
# states a rule, so neither is quoted.
_DATE_LINE = re.compile(
    r"^[\d〇零○一二三四五六七八九]{4}\s*年\s*[\d一二三四五六七八九十]{1,2}\s*月"
    r"(?:\s*[\d一二三四五六七八九十]{1,3}\s*日)?$"
)
# Lines joined into one sentence stay within the length of a long sentence.
_JOINED_MAX = 160
_HEADING_MAX = 40
# A quote built from a lead-in and an item marks the gap it skips.
ELISION = "……"


@dataclass(frozen=True)
class Unit:
    """A quotable piece of a document: one sentence, or a lead-in with one of its items."""

    chunk_ord: int
    start: int  # offsets in the cleaned document text
    end: int
    quote: str
    embed: str  # what is embedded: headings for context, then the quote

    @property
    def key(self) -> str:
        """A stable key within one document version."""
        return f"{self.chunk_ord}:{self.start}:{self.end}"


def _content_len(text: str) -> int:
    return len(re.sub(r"\W", "", text))


def _said_after_number(text: str) -> int:
    """Content characters after a line's own number or bullet."""
    return _content_len(ITEM.sub("", text, count=1))


def is_heading(text: str, at_section_start: bool) -> bool:
    """Whether a sentence is a heading line (a section's opening words without a full stop)."""
    return at_section_start and len(text) <= _HEADING_MAX and not _FINAL.search(text)


class UnitBuilder:
    """Builds a document's units chunk by chunk, in order (a lead-in may govern the items of
    the next chunks), so a document of any size never has to be held whole."""

    def __init__(self, title: str) -> None:
        self.short_title = title[:24]
        # the current lead-in, and how many sentences have been seen since it
        self._lead: _Lead | None = None
        self._since_lead = 0
        self._lead_section: tuple[str, ...] | None = None

    def add(self, chunk: Any) -> list[Unit]:
        """The units of the next chunk."""
        # The top-level heading says what part of the document a sentence is in; the deeper
        # labels mostly repeat the sentence itself (measured: recall and rank both better).
        heads = [h for h in getattr(chunk, "headings", ()) if h]
        head = heads[0][:30] if heads else self.short_title
        units: list[Unit] = []
        section = getattr(chunk, "section", None)
        if not _governed(section, self._lead_section):
            self._lead = None
        opens = opens_with_heading(chunk.text, heads)
        spans = sentences(chunk.text, chunk.start, opens)
        at_title = False  # the chunk opened with its section's title
        for i, s in enumerate(spans):
            text_ = s.text
            lead = self._lead
            self._since_lead += 1
            item = (
                bool(ITEM.match(text_))
                and lead is not None
                and s.start - lead.end <= _LEAD_IN_REACH
            )
            # A numbered line under a lead-in with nothing below it is an entry of the list
            # ("只准携带下列物品：" then "（一）2B铅笔"), not a heading, however short: it is
            # quoted with its lead-in.
            entry = item and len(spans) == 1
            # A line that is its section's whole text, with nothing below it, says something
            # itself ("1.考生须携带准考证、身份证", "二、考试地点：市一中"): a heading has a body.
            lone = (
                len(spans) == 1
                and bool(getattr(chunk, "lone", False))
                and not _DIVISION.match(text_)
                and _said_after_number(text_) >= _MIN_CONTENT
            )
            at_start = i == 0 and opens and not entry and not lone
            # The whole body of a titled section can be a word or two ("二、考试地点" then
            # "市第一中学。"): too short to say anything alone, it is quoted after its title.
            titled = (
                i == 1
                and len(spans) == 2
                and at_title
                and not item
                and _MIN_BODY <= _content_len(text_) < _MIN_CONTENT
            )
            if is_heading(text_, at_section_start=at_start):
                at_title = True
                continue
            # Under a section's title a date is the section's content ("三、考试时间" then
            # "2026年6月7日"); under an issuer's name, it signs.
            after_name = i >= 1 and not (i == 1 and at_title)
            after_name = after_name and not _FINAL.search(spans[i - 1].text)
            before_date = i + 1 < len(spans) and bool(_DATE_LINE.match(spans[i + 1].text))
            if (_DATE_LINE.match(text_) and after_name) or (
                before_date and not _FINAL.search(text_)
            ):
                continue
            if item:
                if _said_after_number(text_) < _MIN_ITEM:
                    continue
            elif not titled and _content_len(text_) < _MIN_CONTENT:
                continue
            if _ANNOUNCES.search(text_):
                self._lead = None
                continue
            quote, start = text_, s.start
            embedded = quote
            if titled:
                quote, start = f"{spans[0].text} {text_}", spans[0].start
                embedded = quote
            elif item and lead is not None:
                joint = "" if self._since_lead == 1 else ELISION
                quote, start = lead.text + joint + text_, lead.start
                embedded = lead.short + joint + text_
            elif _LEAD_IN.search(text_):
                self._lead = _lead_in(chunk.text, chunk.start, s.start, s.end)
                # Its first clauses, cut off at a "；", were sentences of their own so far: the
                # items quote them now, and alone they speak of a list they do not give.
                units = [u for u in units if u.start < self._lead.start]
                self._since_lead = 0
                self._lead_section = section
                # A lead-in announces what follows ("现将有关事项通知如下：", "下列行为应当认定
                # 为考试作弊："); alone it answers nothing, and its items quote it. It stays a
                # unit only when it was too long to be carried whole.
                if self._lead.start <= s.start:
                    continue
            elif lead is not None and self._since_lead == 1:
                # An unnumbered sentence right after its lead-in is what the lead-in announced
                # ("考生只准携带下列物品：2B铅笔、黑色签字笔、橡皮。").
                quote, start = lead.text + text_, lead.start
                embedded = lead.short + text_
                self._lead = None
            else:
                self._lead = None
            embed = f"{head}\n{embedded}" if head and head not in embedded else embedded
            units.append(Unit(chunk.ord, start, s.end, quote, embed))
        return units


def opens_with_heading(text: str, headings: Sequence[str]) -> bool:
    """Whether a section's text starts with one of its headings (a chunk cut from the middle
    of a section, or a paragraph after a list, does not)."""
    first = text.lstrip().split("\n", 1)[0].lstrip("#").strip()
    return any(h.startswith(first) or first.startswith(h) for h in headings)


def sentences(text: str, base: int, opens_section: bool = True) -> list[Span]:
    """A chunk's sentences, with a line that breaks off mid-sentence joined to the lines that
    finish it.

    A line break can fall inside a sentence: a space typed as a pause and read as a lost
    paragraph break ("开考15分钟后 考生不得进入考场。"), a <br> or a Word line break, a PDF line the
    wrap joiner could not place. Quoted alone, the second half drops its condition ("考生不得
    进入考场。"). Only short lines are continued, and only into a line that ends the sentence:
    a long line without a full stop is more often a paragraph that lacks one, and lines none of
    which ends with one are a list of bare entries (a web page's <li>s), each said on its own.
    The first line of a chunk that opens a section stays apart (it is the heading), and a line
    never runs into one that opens a numbered item or article.
    """
    spans = split_sentences(text, base=base)
    out: list[Span] = []
    i = 0
    while i < len(spans):
        end = i
        if out or not opens_section:
            length, k = len(spans[i].text), i
            while k + 1 < len(spans) and _breaks_off(text, base, spans[k], length, spans[k + 1]):
                k += 1
                length += len(spans[k].text)
                if _FINAL.search(spans[k].text):
                    end = k
                    break
        joined = spans[i]
        for s in spans[i + 1 : end + 1]:
            gap = "" if joined.text[-1] in _CONTINUING else " "
            joined = Span(joined.start, s.end, joined.text + gap + s.text)
        out.append(joined)
        i = end + 1
    return out


def _breaks_off(text: str, base: int, line: Span, so_far: int, nxt: Span) -> bool:
    """Whether a sentence of `so_far` characters that ends with `line` may go on in `nxt`."""
    return (
        so_far <= _HEADING_MAX
        and not _FINAL.search(line.text)
        and (line.text[-1] in _CONTINUING or not _LABELLED.match(line.text))
        and "\n" in text[line.end - base : nxt.start - base]
        and not _OPENS_PART.match(nxt.text)
        and so_far + len(nxt.text) <= _JOINED_MAX
    )


def _governed(section: tuple[str, ...] | None, lead_section: tuple[str, ...] | None) -> bool:
    """Whether a lead-in in `lead_section` still introduces what a chunk in `section` holds:
    the same section, or an item directly under it (第二十六条 > （一）). Under a heading of
    its own ("一、考务人员安排") a list belongs to that heading, not to "通知如下：" above it."""
    if section is None or lead_section is None:
        return True
    return section == lead_section or section[:-1] == lead_section


def build_units(title: str, chunks: Sequence[Any]) -> list[Unit]:
    """The evidence units of a cleaned document's chunks, in document order."""
    builder = UnitBuilder(title)
    return [u for chunk in chunks for u in builder.add(chunk)]


@dataclass(frozen=True)
class _Lead:
    """A list's lead-in: where its quoted text starts and ends, that text, and the part of it
    that goes into its items' vectors."""

    start: int
    end: int
    text: str
    short: str


def _lead_in(text: str, base: int, start: int, end: int) -> _Lead:
    """The whole sentence that ends with a colon at `end`, within `text` (a chunk's text,
    which starts at document offset `base`)."""
    begin = start - base
    while begin > 0 and not _FULL_STOP.match(text[begin - 1]):
        begin -= 1
    quoted = _last_clauses(text[begin : end - base], _LEAD_IN_QUOTED)
    # A lead-in broken over lines (see `sentences`) is quoted on one.
    return _Lead(
        end - len(quoted),
        end,
        quoted.replace("\n", " "),
        _last_clauses(quoted, _LEAD_IN_EMBEDDED).replace("\n", " "),
    )


def _last_clauses(piece: str, limit: int) -> str:
    """The last "；"- or "，"-separated clauses of `piece` within `limit` characters (fewer
    only when a single clause is longer)."""
    while len(piece) > limit:
        cuts = [i for i in (piece.find("；", 1), piece.find("，", 1)) if i > 0]
        if not cuts:
            break
        piece = piece[min(cuts) + 1 :]
    return piece.strip()
