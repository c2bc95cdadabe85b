"""Telegram HTML rendering: everything escaped, split below the message limit without breaking
a tag, source and feedback buttons for answers."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

import prompts
from bot.messages import Passage
from bot.qa import Answer
from knowledge.textutil import loose_pattern
from knowledge.units import ELISION

# Telegram allows 4,096 characters (UTF-16 units) per message; leave room for safety.
LIMIT = 4000


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Block:
    """Plain text and the one tag it is wrapped in (None: no tag)."""

    text: str
    tag: str | None = None

    def html(self) -> str:
        """The escaped, wrapped fragment."""
        body = html.escape(self.text, quote=False)
        return f"<{self.tag}>{body}</{self.tag}>" if self.tag else body


def _fits(text: str, limit: int) -> bool:
    return utf16_len(html.escape(text, quote=False)) <= limit


def _pieces(text: str, limit: int) -> list[str]:
    """Cut plain text at line or sentence ends so that each escaped piece fits `limit`;
    a single sentence longer than that is cut at the largest prefix that fits."""
    out: list[str] = []
    cur = ""
    for part in re.split(r"(?<=[\n。！？；])", text):
        if _fits(cur + part, limit):
            cur += part
            continue
        if cur:
            out.append(cur)
        while not _fits(part, limit):
            cut = min(len(part), limit)
            while cut > 1 and not _fits(part[:cut], limit):
                cut -= max(1, cut // 50)
            out.append(part[:cut])
            part = part[cut:]
        cur = part
    if cur:
        out.append(cur)
    return out


def split_blocks(blocks: list[Block], limit: int = LIMIT) -> list[str]:
    """Join blocks into as few messages as possible, each at most `limit` long."""
    fragments: list[str] = []
    for b in blocks:
        room = limit - (utf16_len(f"<{b.tag}></{b.tag}>") if b.tag else 0)
        if utf16_len(b.html()) <= limit:
            fragments.append(b.html())
        else:
            fragments += [Block(p, b.tag).html() for p in _pieces(b.text, room)]
    messages: list[str] = []
    cur = ""
    for frag in fragments:
        joined = f"{cur}\n{frag}" if cur else frag
        if cur and utf16_len(joined) > limit:
            messages.append(cur)
            cur = frag
        else:
            cur = joined
    if cur:
        messages.append(cur)
    return messages


def text_messages(text: str) -> list[str]:
    """A plain reply as escaped HTML messages."""
    return split_blocks([Block(line) for line in text.split("\n")])


def answer_messages(answer: Answer) -> list[str]:
    """An answer: the quoted sentences with [n] markers, then the numbered sources (title ·
    section; the 原文 buttons show the passages). Related rules are quoted and labelled."""
    if not answer.answered:
        if not answer.related:
            return text_messages(answer.answer)
        blocks = [Block(answer.answer), Block(""), Block(prompts.load("related_heading"), "b")]
        for c in answer.related:
            where = f"{c.title} · {c.section}" if c.section else c.title
            blocks += [Block(f"[{c.n}] {where}"), Block(c.quote, "blockquote")]
        return split_blocks(blocks)
    blocks = [Block(answer.answer), Block(""), Block(prompts.load("answer_sources_heading"), "b")]
    for c in answer.citations:
        where = f"{c.title} · {c.section}" if c.section else c.title
        blocks.append(Block(f"[{c.n}] {where}"))
    return split_blocks(blocks)


def answer_keyboard(answer: Answer, answer_id: int | None) -> InlineKeyboardMarkup | None:
    """Buttons: one per source to show its full passage, then 👍 / 👎."""
    if answer_id is None or not answer.answered:
        return None
    sources = [
        InlineKeyboardButton(f"原文 [{c.n}]", callback_data=f"src:{answer_id}:{c.n}")
        for c in answer.citations
    ]
    votes = [
        InlineKeyboardButton("👍 有帮助", callback_data=f"fb:{answer_id}:1"),
        InlineKeyboardButton("👎 没帮上", callback_data=f"fb:{answer_id}:-1"),
    ]
    return InlineKeyboardMarkup([sources, votes])


def passage_messages(p: Passage) -> list[str]:
    """The full passage with the quoted sentence in bold."""
    where = f"[{p.n}] {p.title} · {p.section}" if p.section else f"[{p.n}] {p.title}"
    head = [Block(where, "b")]
    if not p.current:
        head.append(Block(prompts.load("passage_changed"), "i"))
        return split_blocks([*head, Block(p.text, "blockquote")])
    # A lead-in + item quote is two pieces joined by an ellipsis: emphasise each.
    body, rest = "", p.text
    for part in (x for x in p.quote.split(ELISION) if x):
        found = loose_pattern(part).search(rest)
        if not found:
            body, rest = "", p.text
            break
        before, part, rest = rest[: found.start()], found.group(), rest[found.end() :]
        body += (
            html.escape(before, quote=False)
            + "<b><u>"
            + html.escape(part, quote=False)
            + "</u></b>"
        )
    body += html.escape(rest, quote=False)
    if utf16_len(body) + 200 > LIMIT:  # very long passage: no emphasis, split safely instead
        return split_blocks([*head, Block(p.text)])
    return ["\n".join(b.html() for b in head) + "\n" + body]
