"""Messages in and out of the core, shared by every front end and service."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

# Full-width forms typed by Chinese input methods, mapped to their ASCII twins (what NFKC does
# for them) so commands, figures and levels parse however they were typed. The CJK punctuation
# of running text (，：；！？（）) is kept: it belongs to what the user wrote, and every parser
# accepts it as a separator.
_KEEP = set("，：；！？（）")
_WIDE = {c: chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F) if chr(c) not in _KEEP}
_WIDE[0x3000] = " "
_SPACES = re.compile(r"\s+")
_TIME = re.compile(r"(?<=\d)：(?=\d)")  # 09：40 is a time, not running text

# One set of words that confirm (or cancel) everywhere a yes/no is asked.
YES = frozenset({"确认", "确定", "是", "是的", "对", "对的", "好", "好的", "可以", "行", "提交",
                 "没问题", "ok", "okay", "y", "yes"})  # fmt: skip
NO = frozenset({"取消", "否", "不", "不是", "不用", "no", "n", "算了", "放弃"})
_TRAIL = "。.！!～~ "


def normalise(text: str) -> str:
    """Text with full-width letters, digits, spaces and symbols made ASCII, spaces collapsed."""
    return _TIME.sub(":", _SPACES.sub(" ", text.translate(_WIDE))).strip()


def _word(text: str) -> str:
    return normalise(text).lower().rstrip(_TRAIL)


def is_yes(text: str) -> bool:
    """Whether a reply confirms (确认, 好的, 是, 对, ok …)."""
    return _word(text) in YES


def is_no(text: str) -> bool:
    """Whether a reply cancels (取消, 不, 算了 …)."""
    return _word(text) in NO


@dataclass(frozen=True)
class Message:
    """One incoming text, already addressed to kaowu (mentions stripped by the front end)."""

    user_id: int
    chat_id: int
    text: str
    user_name: str = ""
    is_private: bool = True
    update_id: int | None = None  # the platform's delivery id, for exactly-once handling
    tapped: bool = False  # the text of a tapped choice button, not typed
    attachment: OutFile | None = None  # a photo or image sent with the message
    delivery_id: str | None = None  # the same for platforms whose ids are strings ("dt:...")

    @property
    def delivery_key(self) -> str | None:
        """Key that identifies this delivery across retries (None when the platform has none)."""
        if self.update_id is None:
            return self.delivery_id
        return f"tg:{self.update_id}"


@dataclass
class OutFile:
    """A file to send (exports)."""

    name: str
    data: bytes
    mime: str = "application/octet-stream"


@dataclass
class Reply:
    """Something to send: text, optionally with a structured answer or a file.

    `chat_id` None means "answer in the chat the message came from"; otherwise the reply goes
    to that chat (escalations, reminders).
    """

    text: str
    answer: Any = None  # bot.qa.Answer when this reply is an answer
    answer_id: int | None = None  # its id in the answer log, for source and feedback buttons
    file: OutFile | None = None
    chat_id: int | None = None
    choices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Passage:
    """The full passage behind a citation, for a "show source" button."""

    n: int
    title: str
    section: str
    text: str
    quote: str
    current: bool  # False: the document changed since; `text` is the quote as it was shown


class Dialogue(Protocol):
    """A multi-step exchange (one per chat and user), owned by the core."""

    def step(self, msg: Message, text: str) -> Outcome:
        """Take the user's next message; the outcome's dialogue is what continues (None: over)."""
        ...


@dataclass
class Outcome:
    """What a command or a dialogue step produced: replies, and the dialogue to continue with."""

    replies: list[Reply]
    dialogue: Dialogue | None = None


def outcome(result: list[Reply] | Outcome) -> Outcome:
    """A handler's result as an `Outcome` (plain reply lists start nothing)."""
    return result if isinstance(result, Outcome) else Outcome(result)
