"""Verification of a generated answer against the numbered sources it was given.

A sentence survives only if it cites at least one provided source and every figure (numbers,
dates, times, quantities) and every quoted term in it appears in the sources it cites. Citation
markers naming no provided source are removed first. Nothing is rewritten beyond that: what is
shown is the model's own sentences, each backed by its sources, or nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.chunk import cn_number
from knowledge.textutil import match_key

_CITE = re.compile(r"\[\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*\]|【\s*(\d+)\s*】")
_SENT = re.compile(r"(?<=[。！？!?；;\n])")
_UNITS = (
    "分钟|小时|个月|周岁|人次|人|名|个|位|次|天|日|月|年|周|级|倍|项|条|款|章|所|岁|类|轮|张|份|套|台|间|场|科|"
    "米|公里|万|元|分|秒|点|号"
)
_ARABIC = re.compile(r"\d+(?:\.\d+)?")
_CHINESE = re.compile(rf"(第)?([零〇一二两三四五六七八九十百千]+)(?={_UNITS})")
_QUOTED = re.compile(r"“([^”]{2,40})”|「([^」]{2,40})」|《([^》]{2,40})》|\"([^\"]{2,40})\"")
DECLINE = re.compile(
    r"知识库(中)?未(涉及|覆盖|收录)|资料(中)?(没有|未)(提及|涉及|说明)|无法(根据资料)?回答"
)


def figures(text: str) -> set[str]:
    """Numbers in a text as canonical strings: 十五分钟 -> "15", 4人 -> "4", 12:30 -> 12, 30."""
    out = {str(float(m)).removesuffix(".0") for m in _ARABIC.findall(text)}
    for m in _CHINESE.finditer(text):
        value = cn_number(m.group(2))
        if value is not None:
            out.add(str(value))
    return out


@dataclass
class Verified:
    """What survived verification, and what was removed and why."""

    sentences: list[tuple[str, list[int]]] = field(default_factory=list)  # text, cited sources
    removed: list[dict[str, str]] = field(default_factory=list)
    declined: bool = False
    total_chars: int = 0

    @property
    def kept_chars(self) -> int:
        """Length of the surviving text."""
        return sum(len(t) for t, _ in self.sentences)


def _split(text: str) -> list[str]:
    """Sentences, with a citation that follows a sentence end kept on that sentence."""
    pieces = [p for p in _SENT.split(text) if p.strip()]
    out: list[str] = []
    for p in pieces:
        lead = re.match(r"^\s*((?:\[\s*[\d,，、\s]+\]|【\s*\d+\s*】)+)", p)
        if lead and out:
            out[-1] += lead.group(1)
            p = p[lead.end() :]
        if p.strip():
            out.append(p.strip())
    return out


def verify(text: str, sources: dict[int, str]) -> Verified:
    """Check a generated answer against `sources` (number -> source text)."""
    result = Verified(total_chars=len(_CITE.sub("", text).strip()))
    if DECLINE.search(text):
        result.declined = True
        return result
    keys = {n: match_key(s) for n, s in sources.items()}
    nums = {n: figures(s) for n, s in sources.items()}
    for sentence in _split(text):
        cited: list[int] = []
        for m in _CITE.finditer(sentence):
            for part in re.split(r"[,，、]", m.group(1) or m.group(2)):
                n = int(part.strip())
                if n in sources:
                    if n not in cited:
                        cited.append(n)
                else:
                    result.removed.append({"reason": "unknown_source", "text": f"[{n}]"})
        bare = _CITE.sub("", sentence).strip()
        if not bare or not re.search(r"[\w\u4e00-\u9fff]", bare):
            continue
        if not cited:
            result.removed.append({"reason": "uncited", "text": bare})
            continue
        support = set().union(*(nums[n] for n in cited))
        missing = sorted(figures(bare) - support)
        if missing:
            result.removed.append(
                {"reason": "unsupported_figure", "text": bare, "detail": "、".join(missing)}
            )
            continue
        joined = "".join(keys[n] for n in cited)
        quoted = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(bare)]
        absent = [q for q in quoted if match_key(q) not in joined]
        if absent:
            result.removed.append(
                {"reason": "unsupported_quote", "text": bare, "detail": "、".join(absent)}
            )
            continue
        result.sentences.append((bare, cited))
    return result
