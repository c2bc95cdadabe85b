"""The platform-neutral core: (who, which chat, text) in, replies out.

Front ends (console, Telegram) only translate their messages into `Message`, call
`Core.handle`, and render the `Reply` objects they get back. Guided dialogues (a report filled
in step by step) are kept here per (chat, user), so they behave the same on every front end:
a command handler or a dialogue step returns an `Outcome` naming the dialogue to continue with,
and only the core keeps it. The core depends on nothing in `bot.reports`; the report commands
plug themselves in through `install`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import prompts
from bot.messages import Dialogue, Message, Outcome, OutFile, Passage, Reply, normalise, outcome
from bot.qa import InvalidQuestion
from bot.render import answer_plain
from bot.services import Services
from knowledge.textutil import loose_pattern
from knowledge.units import ELISION

__all__ = ["Core", "Dialogue", "Message", "OutFile", "Outcome", "Passage", "Reply"]

log = logging.getLogger(__name__)

Handler = Callable[[Message, str], "list[Reply] | Outcome"]
RoleCheck = Callable[[Message], set[str]]
# Free text that means an action (a zero report typed in words, an acknowledgement button):
# the outcome, or None when the text is not for this intent.
Intent = Callable[[Message, str], "Outcome | None"]

# A guided dialogue left unanswered this long is dropped.
DIALOGUE_IDLE_SECONDS = 30 * 60


@dataclass(frozen=True)
class Command:
    """A registered slash command."""

    name: str
    handler: Handler
    description: str
    role: str  # "all" or a role name from a RoleCheck


class Core:
    """Routes messages to commands, dialogues and questions."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.commands: dict[str, Command] = {}
        self.role_checks: list[RoleCheck] = []
        self.intents: list[Intent] = []
        self._dialogues: dict[tuple[int, int], tuple[Dialogue, float]] = {}
        self._lock = threading.Lock()
        self.register("ask", self.cmd_ask, "提问（群里用 /ask 问题）")
        self.register("help", self.cmd_help, "查看可用命令")
        self.register("start", self.cmd_help, "", role="hidden")
        self.register("cancel", self.cmd_cancel, "放弃正在填写的报告")
        if services.report_commands is not None:
            services.report_commands.install(self)

    def register(self, name: str, handler: Handler, description: str, role: str = "all") -> None:
        """Add a slash command; `role` decides who sees it in /help."""
        self.commands[name] = Command(name, handler, description, role)

    def roles(self, msg: Message) -> set[str]:
        """Roles of the sender (everyone has "all")."""
        out = {"all"}
        for check in self.role_checks:
            out |= check(msg)
        return out

    # ------------------------------------------------------------------ routing
    def handle(self, msg: Message) -> list[Reply]:
        """Handle one message and return the replies.

        A repeated delivery of a message that stored something gets the same reply, looked up
        in the database (which every process shares), never from memory.
        """
        commands = self.services.report_commands
        if commands is not None:
            seen = commands.redelivered(msg)
            if seen is not None:
                return seen
        return self._route(msg)

    def _route(self, msg: Message) -> list[Reply]:
        raw = (msg.text or "").strip()
        text = normalise(raw)  # commands, answers and intents parse the same however typed
        key = (msg.chat_id, msg.user_id)
        with self._lock:
            active = self._dialogues.get(key)
            if active and time.monotonic() - active[1] > DIALOGUE_IDLE_SECONDS:
                del self._dialogues[key]
                active = None
        if msg.attachment is not None:  # a photo: only an intent (attach to an incident) takes it
            for intent in self.intents:
                found = intent(msg, text)
                if found is not None:
                    return self._start(msg, found)
            return [Reply(prompts.load("attachment_unexpected"))]
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            name = name.split("@", 1)[0].lower()  # /ask@kaowu_bot in groups
            prefix: list[Reply] = []
            if active and name != "cancel":
                self.end(msg)
                prefix = [Reply(prompts.load("dialogue_dropped"))]
            command = self.commands.get(name)
            if command is None:
                return [*prefix, Reply(prompts.render("unknown_command", command=_clip(name)))]
            if name == "ask":  # a question keeps the punctuation it was typed with
                args = raw[1:].partition(" ")[2] if raw.startswith("/") else args
            return prefix + self._start(msg, outcome(command.handler(msg, args.strip())))
        if active:
            return self._continue(msg, active[0], active[0].step(msg, text))
        for intent in self.intents:
            found = intent(msg, text)
            if found is not None:
                return self._start(msg, found)
        if msg.tapped:  # a button of a dialogue that has ended or expired
            return [Reply(prompts.load("choice_expired"))]
        return self.cmd_ask(msg, raw)

    def _start(self, msg: Message, result: Outcome) -> list[Reply]:
        """The replies of a command; the dialogue it names (if any) becomes the active one."""
        if result.dialogue is not None:
            self.begin(msg, result.dialogue)
        return result.replies

    def _continue(self, msg: Message, current: Dialogue, result: Outcome) -> list[Reply]:
        key = (msg.chat_id, msg.user_id)
        with self._lock:
            if result.dialogue is None:
                if self._dialogues.get(key, (None,))[0] is current:
                    self._dialogues.pop(key, None)
            else:
                self._dialogues[key] = (result.dialogue, time.monotonic())
        return result.replies

    def begin(self, msg: Message, dialogue: Dialogue) -> None:
        """Start a guided dialogue for this chat and user."""
        with self._lock:
            self._dialogues[(msg.chat_id, msg.user_id)] = (dialogue, time.monotonic())

    def end(self, msg: Message) -> bool:
        """Drop the dialogue of this chat and user; whether there was one."""
        with self._lock:
            return self._dialogues.pop((msg.chat_id, msg.user_id), None) is not None

    def in_dialogue(self, msg: Message) -> bool:
        """Whether this chat and user are in the middle of a guided dialogue."""
        with self._lock:
            return (msg.chat_id, msg.user_id) in self._dialogues

    # ------------------------------------------------------------------ commands
    def cmd_help(self, msg: Message, args: str) -> list[Reply]:
        """/start, /help: what this user can do."""
        roles = self.roles(msg)
        sections = []
        for role, title in (("all", ""), ("chief", "考点主考"), ("coordinator", "招生办")):
            if role not in roles:
                continue
            lines = [
                f"/{c.name} — {c.description}"
                for c in self.commands.values()
                if c.role == role and c.description
            ]
            if lines:
                sections.append((f"{title}：\n" if title else "") + "\n".join(lines))
        return [Reply(prompts.render("help", commands="\n\n".join(sections)))]

    def cmd_cancel(self, msg: Message, args: str) -> list[Reply]:
        """/cancel: abandon the guided dialogue in progress."""
        return [Reply(prompts.load("cancelled" if self.end(msg) else "nothing_to_cancel"))]

    def cmd_ask(self, msg: Message, question: str) -> list[Reply]:
        """/ask <问题> or plain text: answer from the knowledge base with citations."""
        if not question and msg.text.strip().startswith("/"):
            return [Reply(prompts.load("ask_usage"))]
        try:
            answer = self.services.qa.ask(question, roles=self.roles(msg))
        except InvalidQuestion as exc:
            return [Reply(str(exc))]
        if answer.mode == "small_talk":  # a greeting is no question: not logged, no buttons
            return [Reply(answer.answer)]
        log = self.services.answers
        answer_id = log.record(msg.chat_id, msg.user_id, answer) if log is not None else None
        return [Reply(answer_plain(answer), answer=answer, answer_id=answer_id)]

    # ------------------------------------------------------------------ answer actions
    def rate(self, user_id: int, answer_id: int, value: int) -> str:
        """Record 👍 (+1) or 👎 (-1) on a logged answer; the acknowledgement to show."""
        log = self.services.answers
        logged = log.vote(answer_id, user_id, value) if log is not None else None
        if logged is None:
            return prompts.load("feedback_unknown")
        return prompts.load("feedback_up" if value > 0 else "feedback_down")

    def passage(self, answer_id: int, n: int) -> Passage | None:
        """The full passage behind citation `n` of a logged answer."""
        log = self.services.answers
        logged = log.get(answer_id) if log is not None else None
        cite = next((c for c in logged.citations if c["n"] == n), None) if logged else None
        if cite is None:
            return None
        chunk = self.services.index.chunk(cite.get("chunk_id", ""))
        text = chunk.text if chunk is not None else ""
        if chunk is not None and cite.get("start", chunk.start) < chunk.start:
            # A list item quoted with its lead-in: the passage starts at the lead-in.
            doc = self.services.index.document_text(chunk.path) or ""
            text = doc[cite["start"] : chunk.end].strip()
        parts = [x for x in cite["quote"].split(ELISION) if x]
        if chunk is None or not parts or not all(loose_pattern(x).search(text) for x in parts):
            return Passage(n, cite["title"], cite["section"], cite["quote"], cite["quote"], False)
        return Passage(n, chunk.title, chunk.section, text, cite["quote"], True)


def _clip(text: str, chars: int = 30) -> str:
    """A name echoed back: at most `chars` characters, with an ellipsis when cut."""
    return text if len(text) <= chars else text[:chars] + "…"
