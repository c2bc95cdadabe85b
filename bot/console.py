"""`kaowu chat`: the console front end over the same core as Telegram."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path
from typing import TextIO

import prompts
from bot.core import Core, Message, Reply

log = logging.getLogger(__name__)


def _answer(core: Core, msg: Message) -> list[Reply]:
    """The core's replies; a failure (index down, a bug) is one message, not the end of the
    session, so the commands typed after it still run."""
    from knowledge.index import IndexUnavailable

    try:
        return core.handle(msg)
    except IndexUnavailable as exc:
        return [Reply(str(exc))]
    except Exception:
        log.exception("handling a console line failed")
        return [Reply(prompts.load("handler_error"))]


def _show(reply: Reply, out: TextIO, export_dir: Path) -> None:
    if reply.chat_id is not None:
        out.write(f"[发往会话 {reply.chat_id}] ")
    out.write(reply.text.rstrip() + "\n")
    if reply.file is not None:
        export_dir.mkdir(parents=True, exist_ok=True)
        target = export_dir / reply.file.name
        target.write_bytes(reply.file.data)
        out.write(prompts.render("console_file_saved", path=target) + "\n")
    if reply.choices:
        out.write("可选：" + " / ".join(reply.choices) + "\n")


def run_console(
    core: Core,
    user_id: int,
    chat_id: int,
    name: str = "",
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Read messages line by line and print the replies; interactive when stdin is a terminal."""
    stdin = stdin or sys.stdin
    if isinstance(stdin, io.TextIOWrapper):
        # One line that is not UTF-8 must not end the session: show its bad bytes as U+FFFD.
        stdin.reconfigure(errors="replace")
    out = stdout or sys.stdout
    interactive = stdin.isatty()
    export_dir = core.services.settings.data_dir / "exports"
    if interactive:
        out.write(prompts.load("console_banner") + "\n")
    while True:
        if interactive:
            out.write("> ")
            out.flush()
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            out.write("\n")
            break
        if not line:
            break
        text = line.strip()
        if text in ("/quit", "/exit", "退出"):
            break
        if not text and not interactive:
            continue
        msg = Message(
            user_id=user_id,
            chat_id=chat_id,
            text=text,
            user_name=name,
            is_private=chat_id == user_id,
        )
        for reply in _answer(core, msg):
            try:
                _show(reply, out, export_dir)
            except OSError as exc:  # e.g. the exports folder cannot be written
                out.write(prompts.render("export_write_failed", path=export_dir,
                                         reason=exc.strerror or exc) + "\n")  # fmt: skip
        if not interactive:
            out.write("\n")
        out.flush()
    return 0
