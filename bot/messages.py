"""Messages in and out of the core, shared by every front end and service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    """One incoming text, already addressed to kaowu (mentions stripped by the front end)."""

    user_id: int
    chat_id: int
    text: str
    user_name: str = ""
    is_private: bool = True
    update_id: int | None = None  # the platform's delivery id, for exactly-once handling
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
