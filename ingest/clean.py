"""Cleaning of scraped policy texts: web debris, pinyin annotations, traditional characters, spacing.

The rules are written against how reposted Chinese official texts look on the web: a title and
meta lines before the body, forum/site chrome around it, a footer after "相关推荐" or a login
prompt, and a site name plus URL stamped repeatedly into the body as a watermark.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from knowledge.textutil import CJK, CJK_PUNCT, cjk_ratio

_TONES = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"
_PY = f"a-zü{_TONES}"
# Pinyin annotation right after a character: 會(huì)議, also with full-width brackets.
_PINYIN_ANNOT = re.compile(rf"(?<=[{CJK}])[(（]([{_PY}]{{1,8}}(?: ?[{_PY}]{{1,8}}){{0,3}})[)）]")
# The corrupted form where the character and "(" were lost: 再?gòu)?qiáng)調
_PINYIN_BROKEN = re.compile(rf"[?？]([{_PY}]{{1,8}})[)）]")
# Neutral-tone syllables appear without a tone mark; other unmarked words in brackets are kept.
_NEUTRAL = {"de", "le", "ma", "ne", "ba", "zi", "men", "zhe", "guo", "shang"}
# An undecodable character left as "?" between two Chinese characters.
_MOJIBAKE_Q = re.compile(rf"(?<=[{CJK}])\?+(?=[{CJK}])")

_URL = re.compile(
    r"(?:https?://)?(?:www\.)?[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*"
    r"\.(?:com|cn|net|org|gov|edu|info|top|cc|xyz)(?:\.cn)?(?:/[\w./?=&%#-]*)?",
    re.IGNORECASE,
)

# Site chrome that never occurs in an official text.
_CHROME = re.compile(
    r"立即注册|回帖|复制链接|显示全部楼层|阅读模式|上一主题|下一主题|上一篇|下一篇|"
    r"返回顶部|回到顶部|开启左侧|关灯|作者专栏|内容提供者|VIP会员|确认删除|"
    r"欢迎来到|欢迎访问|欢迎光临|"
    r"发表评论|取消回复|评论可获取|积分奖励|Copyright|版权所有|©|ICP备|公网安备|备案号|"
    r"Powered\s*by|责任编辑|免责声明|违规举报|付费下载|网友上传|不代表本站|本站所有|"
    r"本站不对|阅读排行|相关推荐|相关文章|相关阅读|推荐阅读|猜你喜欢|分享到|收藏本文|打印本页|"
    r"关闭窗口|浏览次数|点击数|发表于",
    re.IGNORECASE,
)
# Site chrome words that official texts use too ("考生登录报名系统", "提供技术支持和捐赠",
# "关注官方微信公众号"): they mark a line as chrome only when it is not a sentence.
_CHROME_WEAK = re.compile(
    r"登录|注册账号|扫一扫|实名认证|技术支持|发布时间|官方微信|微信订阅号|公众号|客服|全国服务热线|"
    r"^来源[:：]|^时间[:：]|^作者[:：]|^导语[:：]|Email|E-mail",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[。！？!?][”’」』）)]?$")
# Lines after which a reposted page has only its footer.
_END = re.compile(
    r"^(相关推荐|相关文章|相关阅读|推荐阅读|猜你喜欢|阅读排行|上一篇|下一篇)|"
    r"您需要登录|发表评论|当您付费下载|版权声明|免责声明"
)
_COUNTER_LINE = re.compile(r"^\d+\s*(关注|粉丝|帖子|积分|回复|阅读|浏览|评论|点赞|收藏)$")
_TITLE_WORDS = re.compile(
    r"讲话|会议|通知|办法|细则|规定|方案|意见|手册|指南|制度|要点|预案|公告|决定|条例|纪要|"
    r"报告|规则|须知|守则|职责|流程|说明|讲稿|发言"
)
# A title names its kind last, before an optional note in brackets: 保守国家秘密法（2024年修订）.
_TITLE_END = re.compile(
    r"(法|条例|规定|办法|细则|规则|决定|通知|意见|方案|预案|手册|须知|守则|讲话|纪要|公告)"
    r"(?:[（(][^（）()]{1,12}[)）])?$"
)
_FULL_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{4}年\d{1,2}月\d{1,2}日")
_FILE_SUFFIX = re.compile(r"\.(docx?|pdf|txt|html?|md|wps)$", re.IGNORECASE)
_OUTLINE_START = re.compile(
    r"^(#{1,6}\s|第[一二三四五六七八九十百零〇\d]+[章节条编]|[一二三四五六七八九十]+、|"
    r"[（(][一二三四五六七八九十\d]+[）)]|\d{1,2}[、.．](?!\d)|[一二三四五六七八九十]+[是要][，,、]?)"
)
_MARKER_ONLY = re.compile(
    r"^(第[一二三四五六七八九十百零〇\d]+(?:[章节编]|条(?:之[一二三四五六七八九十]+)?)|[一二三四五六七八九十]+、)$"
)
_ARTICLE_LABEL = re.compile(
    r"^(第[一二三四五六七八九十百零〇\d]+(?:[章节编]|条(?:之[一二三四五六七八九十]+)?)) (?=\S)"
)
_SALUTATION = re.compile(r"^(同志们|各位|尊敬的)")
SENTENCE_PUNCT = re.compile(r"[。！？；!?;]")
_FULLWIDTH_ALNUM = {
    **{ord("０") + i: ord("0") + i for i in range(10)},
    **{ord("Ａ") + i: ord("A") + i for i in range(26)},
    **{ord("ａ") + i: ord("a") + i for i in range(26)},
}
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = re.compile(r"[ \t\u00a0\u3000\u2002\u2003\u2009\u202f]+")


@dataclass
class CleanedText:
    """A cleaned document body, the title found for it and what was removed (for review)."""

    text: str
    title: str | None
    removed: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert traditional characters to simplified (OpenCC t2s)."""
    return str(_converter().convert(text))


def strip_pinyin(text: str) -> str:
    """Remove pinyin inserted after characters, keeping real brackets such as 试(答)卷 or (AI)."""

    def annot(m: re.Match[str]) -> str:
        inner = m.group(1)
        if any(c in _TONES for c in inner) or inner in _NEUTRAL:
            return ""
        return m.group(0)

    text = _PINYIN_BROKEN.sub(
        lambda m: "" if any(c in _TONES for c in m.group(1)) else m.group(0), text
    )
    text = _PINYIN_ANNOT.sub(annot, text)
    return _MOJIBAKE_Q.sub("", text)


def remove_watermarks(text: str) -> tuple[str, list[str]]:
    """Remove a site name + URL stamped repeatedly into the text.

    Each URL that occurs at least twice is grown left and right over the characters that are the
    same at every occurrence; that common fragment is the watermark.
    """
    removed: list[str] = []
    counts = Counter(m.group(0) for m in _URL.finditer(text))
    for url, n in counts.items():
        if n < 2:
            continue
        starts = [m.start() for m in re.finditer(re.escape(url), text)]
        left = 0
        while left < 40 and all(s - left - 1 >= 0 for s in starts):
            chars = {text[s - left - 1] for s in starts}
            if len(chars) != 1 or chars == {"\n"}:
                break
            left += 1
        right = 0
        ends = [s + len(url) for s in starts]
        while right < 40 and all(e + right < len(text) for e in ends):
            chars = {text[e + right] for e in ends}
            if len(chars) != 1 or chars == {"\n"}:
                break
            right += 1
        mark = text[starts[0] - left : ends[0] + right]
        removed.append(mark.strip())
        text = text.replace(mark, "")
        text = _cut_partial_mark(text, mark.strip())
    return text, removed


def _cut_partial_mark(text: str, mark: str) -> str:
    """Drop the first characters of a watermark left where a page was cut off ("…应急秘书...")."""

    def cut(m: re.Match[str]) -> str:
        body = m.group(1)
        for k in range(len(mark), 1, -1):
            if body.endswith(mark[:k]):
                return body[:-k] + "…"
        return m.group(0)

    return re.sub(r"^(.*?)[.…]{2,}[ \t]*$", cut, text, flags=re.MULTILINE)


def _break_spaces(line: str) -> list[str]:
    """Split a line at spaces that stand for lost paragraph breaks between Chinese text."""
    if _letter_spaced(line):
        line = _LETTER_SPACE.sub("", line)
    parts: list[str] = []
    pos = 0
    seg_start = 0
    for m in re.finditer(rf"(?<=[{CJK}{CJK_PUNCT}:;!?])[ \t]+(?=[{CJK}{CJK_PUNCT}(])", line):
        left = line[seg_start : m.start()]
        right = line[m.end() :]
        if right[:1] in _NO_LINE_START:  # "进入考场 。": no sentence or heading starts so
            continue
        since = re.split(r"[。！？；]", left)[-1]
        if _MARKER_ONLY.match(_MD_MARK.sub("", since)):  # "第三条 监考员…": the heading's space
            continue
        if _unclosed(line[: m.start()]):  # "（1995年3月18日 第八届…通过 …修正）" is one note
            continue
        if _SPACED_OUT.search(line[: m.start()]) and _SPACED_OUT_NEXT.match(line[m.end() :]):
            continue  # "第一章 总 则": a heading word printed with spaces between its characters
        is_break = (
            left[-1:] in "。！？；：:;!?”"
            or bool(_OUTLINE_START.match(right))
            or (bool(_OUTLINE_START.match(since)) and len(since) <= 60)
            or (
                len(since) <= 40
                and not re.search(r"[，,、]", since)
                # A line with no full stop after the space is one statement typed with a
                # pause ("开考15分钟后 考生不得进入考场", "县招生办 张老师 138…"), not two
                # paragraphs run together.
                and bool(_ENDS_SOMEWHERE.search(right))
            )
        )
        if is_break:
            parts.append(line[pos : m.start()])
            pos = m.end()
            seg_start = m.end()
    parts.append(line[pos:])
    return [p for p in parts if p.strip()]


_MD_MARK = re.compile(r"^#{1,6}\s+")
_ENDS_SOMEWHERE = re.compile(r"[。！？；：!?;:]")
# Punctuation that closes or continues a sentence, so a line never starts with it.
_NO_LINE_START = "，。、；：？！”’）》】」』〕…,.;:?!)"
# Some PDF producers justify a line by spacing its letters, and text extraction then puts a
# space after nearly every character ("考 生 须 在 开 考 前 3 0 分 钟"). In such a line a single
# space is letter spacing; only a wider gap can be a word or paragraph break.
_LETTER_SPACED_MIN_TOKENS = 8
_LETTER_SPACED_SHARE = 0.6
_LETTER_SPACE = re.compile(r"(?<=\S) (?=\S)")


def _letter_spaced(line: str) -> bool:
    """Whether most of a Chinese line's space-separated pieces are single characters."""
    tokens = line.split()
    if len(tokens) < _LETTER_SPACED_MIN_TOKENS or cjk_ratio(line) < 0.5:
        return False
    return sum(len(t) == 1 for t in tokens) >= _LETTER_SPACED_SHARE * len(tokens)


_OPEN, _CLOSE = "（(【〔", "）)】〕"
# One or two characters on each side of a space: a word spread out for layout (总 则, 附 则).
_SPACED_OUT = re.compile(rf"(?:^|[ \t]|[章节条编])[{CJK}]{{1,2}}$")
_SPACED_OUT_NEXT = re.compile(rf"[{CJK}]{{1,2}}(?:[ \t]|$)")


def _unclosed(text: str) -> bool:
    """Whether `text` leaves a bracket open."""
    return sum(text.count(c) for c in _OPEN) > sum(text.count(c) for c in _CLOSE)


def _normalise_spacing(line: str) -> str:
    line = line.translate(_FULLWIDTH_ALNUM)
    heading = re.match(r"^(#{1,6})\s+", line)
    prefix = ""
    if heading:
        prefix, line = heading.group(1) + " ", line[heading.end() :]
    line = _SPACES.sub(" ", line).strip()
    # "第七十三条　明知……", "第一章 总则": the space after an article or chapter number is
    # kept, as laws print it; every other space between Chinese characters is an artefact.
    label = _ARTICLE_LABEL.match(line)
    if label:
        prefix, line = prefix + label.group(1) + " ", line[label.end() :]
    line = re.sub(rf"(?<=[{CJK}{CJK_PUNCT}])\s+|\s+(?=[{CJK}{CJK_PUNCT}])", "", line)
    return prefix + line


def _is_chrome(line: str) -> bool:
    if _COUNTER_LINE.match(line):
        return True
    hits = len(_CHROME.findall(line))
    if not _SENTENCE_END.search(line):
        hits += len(_CHROME_WEAK.findall(line))
    if hits >= 2 and len(line) <= 400:
        return True
    return hits >= 1 and (len(line) <= 60 or not SENTENCE_PUNCT.search(line))


def _is_body(line: str) -> bool:
    return bool(
        _SALUTATION.match(line)
        or _OUTLINE_START.match(line)
        or (len(line) >= 40 and SENTENCE_PUNCT.search(line))
    )


def _title_score(line: str) -> int:
    if not (4 <= len(line) <= 60) or cjk_ratio(line) < 0.5 or line.startswith(("#", "（", "(")):
        return -1
    if SENTENCE_PUNCT.search(line[-1]) or _FULL_DATE.search(line):
        return -1  # a dated line is the byline or the legislative history, not the title
    if _TITLE_END.search(line):
        return 3  # a title ends with what the document is: …条例, …法, …的讲话
    return 2 if _TITLE_WORDS.search(line) else 1


def clean_text(
    raw: str, title_hint: str | None = None, head: bool = True, tail: bool = True
) -> CleanedText:
    """Clean one document's raw text; `title_hint` is a title the loader already knows.

    A very large document is cleaned in segments: only the first has a title and preamble
    (`head`), only the last a footer (`tail`).
    """
    removed: list[str] = []
    text = raw.translate(_INVISIBLE).replace("\r\n", "\n").replace("\r", "\n")
    text = strip_pinyin(text)
    text = to_simplified(text)
    text, marks = remove_watermarks(text)
    removed += marks

    lines = [ln.strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    mostly_cjk = cjk_ratio(text) >= 0.5

    # Cut the footer at the first end marker found in the second half of the page.
    total = sum(len(ln) for ln in lines) or 1
    seen = 0
    for i, ln in enumerate(lines):
        if tail and seen / total >= 0.5 and _END.search(ln):
            removed += lines[i:]
            lines = lines[:i]
            break
        seen += len(ln)

    kept: list[str] = []
    for ln in lines:
        if _is_chrome(ln) or (mostly_cjk and not re.search(f"[{CJK}]", ln) and len(ln) < 40):
            removed.append(ln)
        else:
            kept.extend(_break_spaces(ln))
    lines = [_normalise_spacing(ln) for ln in kept]
    lines = [ln for ln in lines if ln]

    if not head:
        return CleanedText(text="\n".join(lines), title=None, removed=removed)
    title = _clean_title(title_hint) if title_hint else None
    if title and mostly_cjk and _title_score(title) <= 0:
        # Document properties often hold a tool's placeholder ("(anonymous)", "untitled",
        # "Microsoft Word - 附件1.doc"), not this document's title.
        title = None
    first_body = next((i for i, ln in enumerate(lines) if _is_body(ln)), len(lines))
    if title is None:
        scored = [
            (i, _title_score(_FILE_SUFFIX.sub("", ln))) for i, ln in enumerate(lines[:first_body])
        ]
        best = max((s for _, s in scored), default=-1)
        if best > 0:
            at = next(i for i, s in scored if s == best)
            title = _clean_title(lines[at])
            removed += lines[:at]
            lines = lines[at:]
            first_body -= at
    # Preamble between title and body: drop the title line, its repeats and short meta lines.
    body: list[str] = []
    for i, ln in enumerate(lines):
        bare = _FILE_SUFFIX.sub("", ln)
        if title and bare == title:
            continue
        if (
            i < first_body
            and not SENTENCE_PUNCT.search(ln)
            and "，" not in ln  # "为确保…，现将有关事项通知如下：" is prose, not a meta line
            and len(ln) < 30
            and not ln.startswith("—")
        ):
            removed.append(ln)
            continue
        body.append(ln)
    return CleanedText(text="\n".join(body), title=title, removed=removed)


# A web page's <title> adds the site's name: "关于…的通知_某某县教育局", "某某县教育局 - 关于…的通知"
# (a dash between digits is a range, and "——" opens a subtitle).
_TITLE_PARTS = re.compile(r"\s*[_|｜]\s*|\s+[-–—]\s+|(?<=[^\d\s—–-])[-–—](?=[^\d\s—–-])")


def _clean_title(title: str) -> str:
    title = _FILE_SUFFIX.sub("", title.strip().lstrip("#").strip())
    title = _normalise_spacing(to_simplified(strip_pinyin(title)))
    parts = [p for p in _TITLE_PARTS.split(title) if p.strip()]
    if len(parts) > 1:
        best = max(parts, key=lambda p: (_title_score(p), len(p)))
        if _title_score(best) > 0:
            return best
    return title
