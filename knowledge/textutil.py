"""Character classes, sentence splitting and matching helpers shared by ingest and retrieval."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# CJK ideographs (basic + extension A + compatibility) and CJK punctuation ranges.
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_RE = re.compile(f"[{CJK}]")
CJK_PUNCT = "，。、；：？！“”‘’（）《》【】—…·「」『』〔〕"

# Sentence ends; a closing quote or bracket right after one belongs to the same sentence.
_SENT_END = re.compile(r"[。！？!?；;]+[”’」』）)]*|\n+")


def loose_pattern(quote: str) -> re.Pattern[str]:
    """A pattern for `quote` that allows any white space between its characters: a quote gives
    a sentence that its document broke over lines on one line."""
    return re.compile(r"\s*".join(re.escape(ch) for ch in quote if not ch.isspace()))


@dataclass(frozen=True)
class Span:
    """A piece of a text with its offsets in that text."""

    start: int
    end: int
    text: str


def split_sentences(text: str, base: int = 0, hard_max: int = 160) -> list[Span]:
    """Split Chinese text into sentences (。！？； and line breaks), offsets relative to `base`.

    A sentence longer than `hard_max` is cut further at commas so that a quote stays short.
    """
    spans: list[Span] = []
    pos = 0
    for m in _SENT_END.finditer(text):
        end = m.end()
        _emit(text, pos, end, base, hard_max, spans)
        pos = end
    _emit(text, pos, len(text), base, hard_max, spans)
    return spans


def _emit(text: str, start: int, end: int, base: int, hard_max: int, out: list[Span]) -> None:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    piece = piece.strip()
    if not piece:
        return
    start += lead
    if len(piece) <= hard_max:
        out.append(Span(base + start, base + start + len(piece), piece))
        return
    # Long run-on sentence: cut at the comma closest to the middle of each window.
    cursor = 0
    while len(piece) - cursor > hard_max:
        window = piece[cursor : cursor + hard_max]
        cut = max(window.rfind("，"), window.rfind(","), window.rfind("、"))
        if cut < hard_max // 3:
            cut = hard_max - 1
        seg = piece[cursor : cursor + cut + 1]
        out.append(Span(base + start + cursor, base + start + cursor + len(seg), seg))
        cursor += cut + 1
    rest = piece[cursor:]
    if rest.strip():
        out.append(Span(base + start + cursor, base + start + len(piece), rest))


def cjk_ratio(text: str) -> float:
    """Share of CJK ideographs among non-space characters."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    return sum(1 for c in chars if CJK_RE.match(c)) / len(chars)


def match_key(text: str) -> str:
    """Normalise for substring matching: NFKC (full/half width), no whitespace, lower case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def char_shingles(text: str, n: int = 3) -> set[str]:
    """Character n-grams of the CJK/alphanumeric content, for near-duplicate detection."""
    core = re.sub(rf"[^{CJK}0-9A-Za-z]", "", text)
    if len(core) <= n:
        return {core} if core else set()
    return {core[i : i + n] for i in range(len(core) - n + 1)}


def overlap(a: set[str], b: set[str]) -> float:
    """Overlap coefficient |a∩b| / min(|a|,|b|): 1.0 when one text is contained in the other."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


# Answer type. A question that asks for an amount, a duration, a time or a count (多少钱, 多久,
# 几点, 几名) is answered only by a sentence that states a figure of that kind; a rule on the
# same topic without one is related, not the answer. "哪几" asks which ones, not how many.
_N = r"(?:\d+(?:\.\d+)?|[一二三四五六七八九十百千万两半零〇]+)"
_ASKED: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("money", re.compile(r"多少钱|多少元|几元|(?:费|钱|补贴|报酬)[^，。？?]{0,6}多少")),
    ("time", re.compile(r"几点|什么时候|何时|哪天|哪一天|几月|几号")),
    (
        "duration",
        re.compile(r"多久|多长时间|(?:几|多少)(?:个)?(?:天|日|小时|分钟|周|星期|个?月|年|学年)"),
    ),
    (
        "count",
        re.compile(
            r"(?<!哪)几(?:个|名|人|位|次|级|份|套|台|间|所|类|种|项|场|轮|批|层|楼)|"
            r"多少(?:个|名|人|位|次|份|套|台|间|所|类|种|项|场)"
        ),
    ),
    ("any", re.compile(r"(?<!哪)几(?!乎)|多少|多大|多高|多远|多长")),
)
_STATED: dict[str, re.Pattern[str]] = {
    "money": re.compile(rf"{_N}\s*(?:元|万元|块)"),
    "time": re.compile(rf"\d{{1,2}}[:：]\d{{2}}|{_N}\s*(?:点|时(?!间)|月|日|号)"),
    "duration": re.compile(rf"{_N}\s*(?:个)?(?:天|日|小时|分钟|周|星期|月|年|学年|秒)"),
    "count": re.compile(rf"{_N}\s*(?:个|名|人|位|次|级|份|套|台|间|所|类|种|项|场|轮|批|层|楼|倍)"),
}
# What each kind of question accepts: "什么时候" is also answered by "考前15分钟".
_ACCEPTS = {
    "money": ("money",),
    "time": ("time", "duration"),
    "duration": ("duration",),
    "count": ("count",),
    "any": ("money", "time", "duration", "count"),
}
# Article and chapter numbers are labels, not figures.
_LABEL_NUMBER = re.compile(r"第[一二三四五六七八九十百零〇\d]+[章节条款项编]")


def asked_quantity(question: str) -> str | None:
    """The kind of figure a question asks for (money, time, duration, count, any), if any."""
    return next((kind for kind, pat in _ASKED if pat.search(question)), None)


def states_quantity(text: str, kind: str = "any") -> bool:
    """Whether a text states a figure of the kind a question asked for."""
    bare = _LABEL_NUMBER.sub("", text)
    return any(_STATED[k].search(bare) for k in _ACCEPTS[kind])
