"""Understanding the question as staff type it: mentions, greetings, traditional script, typos.

Staff write "@kaowu_bot 老师好，请问考生手機響了怎麼辦阿" in a group chat. Before search, the
mention and the politeness around the question are removed, traditional characters become
simplified, and words that are typed wrong by a pinyin input method (报密室 for 保密室, 根车 for
跟车) are replaced by the word of the same sound that the knowledge base itself uses. A
message that is only a greeting or thanks is small talk, answered with what kaowu can do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from ingest.clean import to_simplified

_MENTION = re.compile(r"@[A-Za-z0-9_]{2,64}\b")
_PUNCT = "，,。.！!？?、～~：:；; \u3000"
# Greetings and politeness around a question; they carry no topic. Matched only at the start
# (or, for thanks, the end) of the message, repeatedly.
_OPENERS = re.compile(
    r"^(?:"
    # greetings: 老师好, 各位领导好, 你好, 早上好, 在吗
    r"(?:各位|诸位)?(?:老师|领导|同事|同志|主考|大家|朋友|亲)们?好|你好|您好|大家好|各位好|嗨|哈喽|hello|hi|"
    r"早上好|上午好|中午好|下午好|晚上好|早安|在吗|在不在|打扰(?:一下|了)?|"
    # requests: 请问, 麻烦问一下, 请教一下, 想问下
    r"麻烦(?:问一下|问下|您|你)|请问(?:一下|下)?|请教(?:一下|下)?|问(?:一下|下)|想问(?:一下|下)?|"
    r"咨询(?:一下|下)?|"
    # a bare salutation only when punctuation follows it: "老师，…" but not "老师被抽调…"
    r"(?:各位|诸位)?(?:老师|领导|同事|主考|大家)们?(?=[，,：:！!\s\u3000])"
    r")[" + _PUNCT + r"]*",
    re.IGNORECASE,
)
_CLOSERS = re.compile(
    r"["
    + _PUNCT
    + r"]*(?:谢谢|多谢|感谢|辛苦了|麻烦了|拜托了)[^\w]*$|(?<!干)[啊阿呀呢吧哈哦]+["
    + _PUNCT
    + r"]*$"
)
# Whole messages that are small talk (after the clean-up above, nothing or only these remain).
_SMALL_TALK = re.compile(
    r"^(?:你是谁|你是什么|你叫什么(?:名字)?|你能做什么|你会什么|你有什么用|怎么用(?:你)?|"
    r"(?:谢谢|多谢|感谢|辛苦了|麻烦了)(?:你|您|老师|各位|大家)?(?:了|啦)?|好的?|好滴|收到|明白了?|知道了|ok|嗯+|哦+|再见|拜拜|晚安|"
    r"你好|您好|在吗|在不在|早|早上好|晚上好|hello|hi)[" + _PUNCT + r"啊呀呢吧哈嘛哦]*$",
    re.IGNORECASE,
)
_THANKS = re.compile(r"谢谢|多谢|感谢|辛苦了")
# How a chat message ends, and a space typed between two phrases instead of a comma.
_ENDING = re.compile(r"[。.！!？?～~…\s\u3000]+$")
_SPACE_AS_COMMA = re.compile(r"(?<=[\u3400-\u9fff])[ \u3000]+(?=[\u3400-\u9fff])")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


@dataclass(frozen=True)
class CleanQuestion:
    """A question as typed and as searched."""

    raw: str
    text: str  # simplified, without mentions and politeness, typos repaired
    small_talk: bool = False
    thanks: bool = False  # small talk that thanks kaowu
    repairs: tuple[tuple[str, str], ...] = ()


def canonical_question(text: str) -> str:
    """One written form of a question: a space between phrases read as a comma, and one "？"
    at the end, whatever the message ended with.

    The embedder reads punctuation, and chat messages often end without a "？" (or lose it with
    the thanks after it: "…怎么弄？谢谢"). Typed without the "？", 9 of the 166 evaluation
    questions got another answer or none; typed with spaces for commas, also 9.
    """
    return _ENDING.sub("", _SPACE_AS_COMMA.sub("，", text)) + "？"


def strip_politeness(text: str) -> str:
    """Remove bot mentions, greetings and thanks around a question."""
    text = _MENTION.sub(" ", text).strip()
    text = re.sub(r"\s+", " ", text)
    while True:  # each round removes text, so this ends
        stripped = _OPENERS.sub("", text, count=1).strip()
        stripped = _CLOSERS.sub("", stripped).strip()
        if stripped == text:
            break
        text = stripped
    return text


def understand(
    raw: str, repair: Callable[[str], tuple[str, tuple[tuple[str, str], ...]]] | None = None
) -> CleanQuestion:
    """Clean a question for search; `repair` fixes typos against the knowledge base."""
    simple = to_simplified(re.sub(r"\s+", " ", raw).strip())
    no_mention = _MENTION.sub(" ", simple).strip()
    thanks = bool(_THANKS.search(no_mention))
    if not no_mention or _SMALL_TALK.match(no_mention.strip(_PUNCT)):
        return CleanQuestion(raw, no_mention, small_talk=True, thanks=thanks)
    text = strip_politeness(simple)
    if not text or _SMALL_TALK.match(text):
        return CleanQuestion(raw, text, small_talk=True, thanks=thanks)
    repairs: tuple[tuple[str, str], ...] = ()
    if repair is not None:
        text, repairs = repair(text)
    return CleanQuestion(raw, canonical_question(text), repairs=repairs)


class TypoRepair:
    """Replaces mistyped words by same-sounding words of the knowledge base's vocabulary.

    A pinyin typo breaks a word, so the dictionary segmentation falls apart into single
    characters around it (保章 -> 保 / 章). A span of 2-4 characters made of such pieces (and at
    most one neighbouring word) that is neither a dictionary word nor in the knowledge base is
    replaced when the knowledge base has exactly one word that sounds the same (toneless
    pinyin) and differs from it in one of the single characters.
    """

    def __init__(
        self,
        vocabulary: Iterable[str],
        known: Callable[[str], bool],
        segment: Callable[[str], list[str]],
    ) -> None:
        self._known = known
        self._segment = segment
        self._vocab = set(vocabulary)
        # A replacement differs from the typo in exactly one character, so it shares the typo's
        # first character or, when that is the one replaced, its last: words grouped by their
        # first and last characters give those few words, and only they need their pinyin (not
        # the whole vocabulary). The grouping is done on the first broken span.
        self._ends: tuple[dict[str, list[str]], dict[str, list[str]]] | None = None

    def _by_ends(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        if self._ends is None:
            first: dict[str, list[str]] = {}
            last: dict[str, list[str]] = {}
            for w in self._vocab:
                if 2 <= len(w) <= 4 and _CJK_RUN.fullmatch(w):
                    first.setdefault(w[0], []).append(w)
                    last.setdefault(w[-1], []).append(w)
            self._ends = (first, last)
        return self._ends

    def _same_but_one(self, piece: str, k: int) -> list[str]:
        """Knowledge-base words that differ from `piece` exactly at position `k`."""
        first, last = self._by_ends()
        pool = first.get(piece[0], []) if k > 0 else last.get(piece[-1], [])
        return [
            w
            for w in pool
            if len(w) == len(piece)
            and w != piece
            and w[:k] == piece[:k]
            and w[k + 1 :] == piece[k + 1 :]
        ]

    def __call__(self, text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The text with typos replaced, and the (typo, replacement) pairs."""
        tokens = self._segment(text)
        done: list[tuple[str, str]] = []
        out: list[str] = []
        i = 0
        while i < len(tokens):
            fixed = self._fix_at(tokens, i)
            if fixed is None:
                out.append(tokens[i])
                i += 1
                continue
            n, piece, word = fixed
            done.append((piece, word))
            out.append(word)
            i += n
        return "".join(out), tuple(done)

    def _fix_at(self, tokens: list[str], i: int) -> tuple[int, str, str] | None:
        for n in (3, 2):
            span = tokens[i : i + n]
            if len(span) < n or not all(_CJK_RUN.fullmatch(t) or len(t) == 1 for t in span):
                continue
            singles = [len(t) == 1 for t in span]
            if sum(singles) < n - 1:
                continue
            piece = "".join(span)
            if not 2 <= len(piece) <= 4 or piece in self._vocab or self._known(piece):
                continue
            if not re.fullmatch(r"[\u4e00-\u9fff]+", piece):
                continue
            # Positions that may be wrong: those inside single-character tokens.
            loose: set[int] = set()
            pos = 0
            for t, single in zip(span, singles, strict=True):
                if single:
                    loose.add(pos)
                pos += len(t)
            # A dictionary word across a loose position means the characters belong together
            # (负责任 holds 责任): not a broken word.
            if any(
                self._known(piece[a:b])
                for a in range(len(piece))
                for b in range(a + 2, len(piece) + 1)
                if (b - a) < len(piece) and any(a <= k < b for k in loose)
            ):
                continue
            sound = _sound(piece)
            options = [
                w for k in sorted(loose) for w in self._same_but_one(piece, k) if _sound(w) == sound
            ]
            if len(options) == 1:
                return n, piece, options[0]
        return None


@lru_cache(maxsize=20000)
def _char_sound(ch: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(ch, style=Style.NORMAL)[0]


def _sound(word: str) -> tuple[str, ...]:
    return tuple(_char_sound(c) for c in word)
