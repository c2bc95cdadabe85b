"""Telegram as a `Sender` of notices, and the HTTP requests every Telegram client here uses.

Used by the bot (through its Application's `Bot`) and by `kaowu reports tick` (a standalone `Bot`
over the same Bot API URL), so both send notices the same way and classify failures alike.
"""

from __future__ import annotations

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

import prompts
from bot.reports.outbox import PermanentSendError, TransientSendError
from bot.settings import TelegramSettings
from bot.tg_render import text_messages


def make_request(settings: TelegramSettings, polling: bool = False) -> HTTPXRequest:
    """An HTTP client for the Bot API, through TELEGRAM_PROXY when one is set."""
    return HTTPXRequest(
        connection_pool_size=1 if polling else 32,
        proxy=settings.telegram_proxy or None,
        read_timeout=30.0 if polling else settings.telegram_timeout,
        write_timeout=settings.telegram_timeout,
        connect_timeout=settings.telegram_timeout,
    )


def standalone_bot(settings: TelegramSettings) -> Bot:
    """A Bot for one-off sends outside the running bot (`kaowu reports tick`)."""
    assert settings.telegram_bot_token
    base = settings.telegram_base_url
    if base:
        return Bot(settings.telegram_bot_token, base_url=base,
                   base_file_url=base.replace("/bot", "/file/bot"), request=make_request(settings))  # fmt: skip
    return Bot(settings.telegram_bot_token, request=make_request(settings))


def classify(exc: TelegramError) -> PermanentSendError | TransientSendError:
    """Whether a failed Bot API call is worth retrying, and whether it may have gone through."""
    detail = f"{type(exc).__name__}: {exc.message}"
    if isinstance(exc, Forbidden):
        return PermanentSendError(prompts.render("send_forbidden", detail=detail))
    if isinstance(exc, BadRequest | ChatMigrated):
        return PermanentSendError(prompts.render("send_bad_request", detail=detail))
    if isinstance(exc, InvalidToken):
        return PermanentSendError(prompts.render("bad_token") + f"（{detail}）")
    if isinstance(exc, TimedOut):
        return TransientSendError(prompts.render("send_timed_out", detail=detail), ambiguous=True)
    if isinstance(exc, RetryAfter):
        return TransientSendError(prompts.render("send_rate_limited", detail=detail))
    return TransientSendError(prompts.render("send_failed", detail=detail))


class TelegramSender:
    """Sends notice texts through the Bot API (HTML-escaped, split below the length limit)."""

    platform = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send_text(self, chat_id: int, text: str, choices: tuple[str, ...] = ()) -> None:
        """Deliver `text` to `chat_id` (choices as buttons under its last part); raise a
        SendError saying whether a retry can help."""
        htmls = text_messages(text)
        for i, html in enumerate(htmls):
            markup = choice_markup(list(choices)) if choices and i == len(htmls) - 1 else None
            try:
                await self.bot.send_message(
                    chat_id, html, parse_mode=ParseMode.HTML, reply_markup=markup
                )
            except TelegramError as exc:
                raise classify(exc) from exc


def choice_markup(choices: list[str]) -> InlineKeyboardMarkup:
    """One row of buttons; a tap comes back as the button's text (`say:` callback data)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(c, callback_data=f"say:{c}") for c in choices]]
    )
