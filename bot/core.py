"""The platform-neutral core: (who, which chat, text) in, replies out.

Front ends (console, Telegram) only translate their messages into `Message`, call
`Core.handle`, and render the `Reply` objects they get back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import prompts
from bot.qa import Answer, InvalidQuestion
from bot.render import answer_plain
from bot.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One incoming text, already addressed to kaowu (mentions stripped by the front end)."""

    user_id: int
    chat_id: int
    text: str
    user_name: str = ""
    is_private: bool = True
    update_id: int | None = None  # the platform's delivery id, for exactly-once handling


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
    answer: Answer | None = None
    file: OutFile | None = None
    chat_id: int | None = None
    choices: list[str] = field(default_factory=list)


Handler = Callable[[Message, str], list[Reply]]


class Core:
    """Routes messages to commands and questions."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.commands: dict[str, Handler] = {
            "start": self.cmd_help,
            "help": self.cmd_help,
            "ask": self.cmd_ask,
        }
        self.describe: dict[str, str] = {
            "ask": "提问（在群里用 /ask 问题）",
            "help": "查看可用命令",
        }

    def handle(self, msg: Message) -> list[Reply]:
        """Handle one message and return the replies."""
        text = (msg.text or "").strip()
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            name = name.split("@", 1)[0].lower()  # /ask@kaowu_bot in groups
            handler = self.commands.get(name)
            if handler is None:
                return [Reply(prompts.render("unknown_command", command=name))]
            return handler(msg, args.strip())
        return self.cmd_ask(msg, text)

    # ------------------------------------------------------------------ commands
    def cmd_help(self, msg: Message, args: str) -> list[Reply]:
        """/start, /help: what this user can do."""
        lines = [f"/{name} — {text}" for name, text in self.describe.items()]
        return [Reply(prompts.render("help", commands="\n".join(lines)))]

    def cmd_ask(self, msg: Message, question: str) -> list[Reply]:
        """/ask <问题> or plain text: answer from the knowledge base with citations."""
        if not question and msg.text.strip().startswith("/"):
            return [Reply(prompts.load("ask_usage"))]
        try:
            answer = self.services.qa.ask(question)
        except InvalidQuestion as exc:
            return [Reply(str(exc))]
        return [Reply(answer_plain(answer), answer=answer)]
