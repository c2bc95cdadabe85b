"""Telegram front end (python-telegram-bot v22): a thin adapter over the core.

Handlers turn an update into a `Message`, run the core in a worker thread, and render its
replies (HTML, split below the length limit, with source and feedback buttons). Updates of
different chats run concurrently, those of one chat in order. Services are created in
`post_init` and closed in `post_shutdown`. Reminders, digests and escalations are rows in the
notices outbox; a JobQueue pump queues the scheduled ones when due and sends every due notice,
so a restart (even kill -9) loses none.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import (
    BotCommand,
    ForceReply,
    InputFile,
    ReplyParameters,
    Update,
)
from telegram import (
    Message as TgMessage,
)
from telegram.constants import ChatAction, ChatType, MessageEntityType, ParseMode
from telegram.error import (
    BadRequest,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

import prompts
from bot.core import Core
from bot.messages import Message, OutFile, Reply
from bot.services import Services
from bot.settings import TelegramSettings
from bot.tg_render import answer_keyboard, answer_messages, passage_messages, text_messages
from bot.tg_send import TelegramSender, choice_markup, make_request

log = logging.getLogger(__name__)

# Photos larger than this are refused before download (Telegram's own bot download limit).
MAX_PHOTO_BYTES = 20 * 1024 * 1024
_MEMBER = {"member", "administrator", "creator", "restricted"}
_MEMBERSHIP_TTL = 600.0
_CONCURRENT_UPDATES = 16
_START_ATTEMPTS = 5


class PerChatProcessor(BaseUpdateProcessor):
    """Runs updates concurrently across chats but one at a time, in arrival order, per chat.

    A slow answer or export in one chat no longer holds up the others, while the messages of
    one conversation (a report filled in step by step) are still handled in the order sent.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for earlier updates of the same chat, then process this one."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] = self._users.get(chat.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:  # keep no lock for chats that have gone quiet
                del self._users[chat.id], self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


class TelegramBot:
    """Builds and runs the PTB Application over the core."""

    def __init__(
        self, services_factory: Callable[[], Services], settings: TelegramSettings | None = None
    ) -> None:
        self._factory = services_factory
        self._tg = settings or TelegramSettings(_env_file=None)
        self.services: Services | None = None
        self.core: Core | None = None
        self._notified: set[int] = set()
        self._members: dict[int, tuple[bool, float]] = {}
        self._pump_lock = asyncio.Lock()
        self._pump_again = False

    # ------------------------------------------------------------------ application
    def build(self, token: str, base_url: str | None = None) -> Application:
        """The Application with every handler registered."""
        builder = (
            Application.builder()
            .token(token)
            .request(make_request(self._tg))
            .get_updates_request(make_request(self._tg, polling=True))
            .concurrent_updates(PerChatProcessor(_CONCURRENT_UPDATES))
            .rate_limiter(AIORateLimiter(max_retries=3))
            .post_init(self._post_init)
            .post_shutdown(self._post_shutdown)
        )
        if base_url:
            builder = builder.base_url(base_url).base_file_url(
                base_url.replace("/bot", "/file/bot")
            )
        app = builder.build()
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handler(CallbackQueryHandler(self.on_callback))
        app.add_handler(MessageHandler(filters.COMMAND, self.on_command))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        app.add_handler(MessageHandler(filters.PHOTO | filters.Document.IMAGE, self.on_photo))
        app.add_error_handler(self.on_error)
        return app

    async def _post_init(self, app: Application) -> None:
        if self.services is None:
            self.services = await asyncio.to_thread(self._factory)
            self.core = Core(self.services)
        assert self.core is not None
        commands = [
            BotCommand(c.name, c.description[:256])
            for c in self.core.commands.values()
            if c.description and c.role != "hidden"
        ]
        await self._set_commands(app, commands)
        if app.job_queue is not None and self.services.reports is not None:
            poll = self.services.settings.reports.notice_poll_seconds
            app.job_queue.run_repeating(self._pump, interval=poll, first=0, name="notices")

    async def _set_commands(self, app: Application, commands: list[BotCommand]) -> None:
        """Publish the command menu, retrying with backoff; the bot works without it."""
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                await app.bot.set_my_commands(commands)
                return
            except (InvalidToken, BadRequest):
                raise
            except TelegramError as exc:
                delay = min(2.0 ** (attempt - 1), 30.0)
                if attempt == _START_ATTEMPTS:
                    log.warning(prompts.render("commands_not_set", error=exc))
                    return
                log.warning(prompts.render("telegram_retry", step="设置命令菜单", attempt=attempt,
                                           error=exc, delay=f"{delay:g}"))  # fmt: skip
                await asyncio.sleep(delay)

    async def _post_shutdown(self, app: Application) -> None:
        if self.services is not None:
            self.services.close()
            self.services = None
            self.core = None

    # ------------------------------------------------------------------ access
    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Serve only ALLOWED_CHAT_IDS (and their members in private); one notice for others."""
        assert self.services is not None
        allowed = self.services.settings.telegram.allowed_chat_ids
        chat, user = update.effective_chat, update.effective_user
        if not allowed or chat is None or user is None:
            return
        if chat.id in allowed:
            return
        if chat.type == ChatType.PRIVATE and await self._private_allowed(context, user.id):
            return
        if update.callback_query is not None:
            await update.callback_query.answer(prompts.load("access_denied"), show_alert=True)
        elif chat.id not in self._notified:
            self._notified.add(chat.id)
            await context.bot.send_message(chat.id, prompts.load("access_denied"))
        raise ApplicationHandlerStop

    async def _private_allowed(self, context: ContextTypes.DEFAULT_TYPE, user_id: int) -> bool:
        assert self.services is not None
        settings = self.services.settings
        if (
            user_id in settings.telegram.allowed_chat_ids
            or user_id in settings.reports.coordinator_ids
        ):
            return True
        cached = self._members.get(user_id)
        if cached and time.monotonic() - cached[1] < _MEMBERSHIP_TTL:
            return cached[0]
        member = False
        for group in settings.telegram.allowed_chat_ids:
            if group >= 0:
                continue
            try:
                info = await context.bot.get_chat_member(group, user_id)
            except TelegramError:
                continue
            if info.status in _MEMBER:
                member = True
                break
        self._members[user_id] = (member, time.monotonic())
        return member

    # ------------------------------------------------------------------ messages
    def _message(
        self, update: Update, text: str, tapped: bool = False, attachment: OutFile | None = None
    ) -> Message:
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None and user is not None
        return Message(
            user_id=user.id,
            chat_id=chat.id,
            text=text,
            user_name=user.full_name,
            is_private=chat.type == ChatType.PRIVATE,
            update_id=update.update_id,
            tapped=tapped,
            attachment=attachment,
        )

    async def _handle(self, msg: Message) -> list[Reply]:
        assert self.core is not None
        from knowledge.index import IndexUnavailable

        try:
            return await asyncio.to_thread(self.core.handle, msg)
        except IndexUnavailable as exc:  # the index server is down: say so, keep serving
            return [Reply(str(exc))]

    def _addressed(self, message: TgMessage, bot_id: int, username: str) -> tuple[bool, str]:
        """Whether a group message is for the bot (mention or reply), and its text without it."""
        text = message.text or ""
        mention = f"@{username}".lower()
        addressed = bool(
            message.reply_to_message
            and message.reply_to_message.from_user
            and message.reply_to_message.from_user.id == bot_id
        )
        for value in message.parse_entities([MessageEntityType.MENTION]).values():
            if value.lower() == mention:
                addressed = True
                text = text.replace(value, " ")
        for entity in message.entities:
            if (
                entity.type == MessageEntityType.TEXT_MENTION
                and entity.user
                and entity.user.id == bot_id
            ):
                addressed = True
        return addressed, " ".join(text.split())

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A question: every text in private; in groups only a mention or a reply to the bot."""
        message = update.effective_message
        if message is None or update.effective_chat is None:
            return
        text = message.text or ""
        if update.effective_chat.type != ChatType.PRIVATE:
            me = context.bot
            addressed, text = self._addressed(message, me.id, me.username)
            if not addressed:
                return
        await context.bot.send_chat_action(update.effective_chat.id, ChatAction.TYPING)
        replies = await self._handle(self._message(update, text))
        await self.send(context, replies, update)

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Any slash command for this bot (in groups, a command for another bot is ignored)."""
        message = update.effective_message
        if message is None or not message.text or update.effective_chat is None:
            return
        name = message.text.split()[0]
        if "@" in name and name.split("@", 1)[1].lower() != (context.bot.username or "").lower():
            return
        if update.effective_chat.type != ChatType.PRIVATE and "@" not in name:
            assert self.core is not None
            if name[1:].lower() not in self.core.commands:
                return  # an unknown bare command in a group may be meant for another bot
        if name.split("@")[0] == "/ask":  # answering takes a moment
            await context.bot.send_chat_action(update.effective_chat.id, ChatAction.TYPING)
        replies = await self._handle(self._message(update, message.text))
        await self.send(context, replies, update)

    async def on_photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo or image document: downloaded and handed to the core with its caption."""
        message = update.effective_message
        if message is None or update.effective_chat is None:
            return
        caption = message.caption or ""
        if update.effective_chat.type != ChatType.PRIVATE:
            addressed = (
                bool(
                    message.reply_to_message
                    and message.reply_to_message.from_user
                    and message.reply_to_message.from_user.id == context.bot.id
                )
                or f"@{context.bot.username}".lower() in caption.lower()
            )
            if not addressed:
                return
            caption = " ".join(caption.replace(f"@{context.bot.username}", " ").split())
        if message.photo:
            item: Any = message.photo[-1]  # the largest size Telegram made
            name, mime = "photo.jpg", "image/jpeg"
        else:
            item = message.document
            assert item is not None
            name, mime = item.file_name or "image", item.mime_type or "image/jpeg"
        if (item.file_size or 0) > MAX_PHOTO_BYTES:
            await self.send(context, [Reply(prompts.load("attachment_too_large"))], update)
            return
        data = bytes(await (await item.get_file()).download_as_bytearray())
        msg = self._message(update, caption, attachment=OutFile(name, data, mime))
        await self.send(context, await self._handle(msg), update)

    # ------------------------------------------------------------------ buttons
    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Choice buttons (taken as the user's answer), source and feedback buttons."""
        query = update.callback_query
        assert query is not None and self.core is not None
        kind, _, rest = (query.data or "").partition(":")
        if kind == "say":
            await query.answer()
            replies = await self._handle(self._message(update, rest, tapped=True))
            await self.send(context, replies, update)
            return
        try:
            answer_id, value = (int(x) for x in rest.split(":"))
        except ValueError:
            await query.answer()
            return
        user = update.effective_user
        assert user is not None
        if kind == "fb":
            text = await asyncio.to_thread(self.core.rate, user.id, answer_id, value)
            await query.answer(text)
            return
        passage = await asyncio.to_thread(self.core.passage, answer_id, value)
        await query.answer()
        if passage is None:
            await self._send_html(context, query.message.chat.id if query.message else user.id,
                                  text_messages(prompts.load("passage_missing")))  # fmt: skip
            return
        chat_id = query.message.chat.id if query.message else user.id
        reply_to = query.message.message_id if query.message else None
        await self._send_html(context, chat_id, passage_messages(passage), reply_to=reply_to)

    # ------------------------------------------------------------------ sending
    async def send(
        self, context: ContextTypes.DEFAULT_TYPE, replies: list[Reply], update: Update | None = None
    ) -> None:
        """Deliver core replies: answers and texts as HTML, files as documents.

        Every reply is attempted even if an earlier one fails (an escalation must not be lost
        because the confirmation to its author failed); the first failure is raised afterwards.
        """
        chat = update.effective_chat if update else None
        message = update.effective_message if update else None
        in_dialogue = False
        if update is not None and self.core is not None and update.effective_user and chat:
            in_dialogue = self.core.in_dialogue(self._message(update, ""))
        failure: Exception | None = None
        self.kick_notices(context)  # escalations or reminders this update may have queued
        for r in replies:
            target = r.chat_id if r.chat_id is not None else (chat.id if chat else None)
            if target is None:
                continue
            reply_to = message.message_id if (r.chat_id is None and message) else None
            try:
                if r.file is not None:
                    await self._call(
                        context.bot.send_document,
                        target,
                        document=InputFile(io.BytesIO(r.file.data), filename=r.file.name),
                        caption=r.text[:1000],
                        reply_parameters=_reply(reply_to),
                    )
                    continue
                markup: Any = None
                if r.answer is not None:
                    htmls = answer_messages(r.answer)
                    markup = answer_keyboard(r.answer, r.answer_id)
                else:
                    htmls = text_messages(r.text)
                    if r.choices:
                        markup = choice_markup(r.choices)
                    elif in_dialogue and chat is not None and chat.type != ChatType.PRIVATE:
                        # With privacy mode on, the bot only sees replies to itself in groups.
                        markup = ForceReply(selective=True)
                await self._send_html(context, target, htmls, reply_to=reply_to, markup=markup)
            except TelegramError as exc:
                log.warning("sending to %s failed: %s", target, exc)
                failure = failure or exc
        if failure is not None:
            raise failure

    async def _send_html(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        chat_id: int,
        htmls: list[str],
        reply_to: int | None = None,
        markup: Any = None,
    ) -> None:
        for i, text in enumerate(htmls):
            await self._call(
                context.bot.send_message,
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_parameters=_reply(reply_to) if i == 0 else None,
                reply_markup=markup if i == len(htmls) - 1 else None,
            )

    @staticmethod
    async def _call(method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the Bot API, retrying a connection error twice.

        A bad request or a blocked bot (Forbidden) cannot succeed on retry; a timeout may have
        been delivered already, so it is not repeated blindly; 429 is retried by the rate
        limiter.
        """
        for attempt in range(3):
            try:
                return await method(*args, **kwargs)
            except (RetryAfter, BadRequest, TimedOut):
                raise
            except NetworkError:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
        return None

    # ------------------------------------------------------------------ notices
    def kick_notices(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Look for due notices now rather than at the next poll."""
        if context.job_queue is not None and self.services is not None:
            context.job_queue.run_once(self._pump, 0)

    async def _pump(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Queue the reminders and digests that are due, then send every due notice."""
        if self._pump_lock.locked():
            self._pump_again = True  # the running pass goes round once more
            return
        async with self._pump_lock:
            self._pump_again = True
            app = context.application
            while self._pump_again and self.services is not None and app.running:
                self._pump_again = False
                notifier, reports = self.services.notifier, self.services.reports
                if notifier is None or reports is None:
                    return
                try:
                    await asyncio.to_thread(notifier.tick, reports.now())
                    # Stop between sends when the bot is shutting down: the rest stays queued.
                    await reports.outbox.deliver(
                        TelegramSender(context.bot),
                        run=asyncio.to_thread,
                        keep_going=lambda: app.running,
                    )
                except Exception:  # the next poll tries again; nothing is marked sent
                    log.exception("sending notices failed")

    # ------------------------------------------------------------------ errors
    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the error and tell the user something went wrong, instead of going silent."""
        if isinstance(context.error, NetworkError):  # Telegram unreachable or slow: expected
            log.warning("update %s: %s", getattr(update, "update_id", "polling"), context.error)
        else:
            log.error("update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await context.bot.send_message(
                    update.effective_chat.id, prompts.load("handler_error")
                )
            except TelegramError:
                log.warning("could not tell chat %s about the error", update.effective_chat.id)


def _reply(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


def _quiet_bootstrap(record: logging.LogRecord) -> bool:
    """Drop PTB's own traceback for a failed start: `run` logs one line per attempt instead."""
    return not (
        record.name.startswith("telegram.ext")
        and record.getMessage().startswith("Network Retry Loop (Bootstrap")
    )


def run(services_factory: Callable[[], Services], settings: TelegramSettings,
        webhook: dict[str, Any] | None = None, max_delay: float = 60.0) -> None:  # fmt: skip
    """Run the bot until interrupted: long polling, or a webhook server.

    While Telegram cannot be reached at start, try again with a growing pause, one line per
    attempt; an invalid token ends at once.
    """
    token = settings.telegram_bot_token
    assert token
    for handler in logging.getLogger().handlers:
        handler.addFilter(_quiet_bootstrap)
    bot = TelegramBot(services_factory, settings)
    attempt = 0
    while True:
        attempt += 1
        app = bot.build(token, settings.telegram_base_url)
        try:
            if webhook is None:
                app.run_polling(allowed_updates=Update.ALL_TYPES, close_loop=False)
            else:
                app.run_webhook(allowed_updates=Update.ALL_TYPES, close_loop=False, **webhook)
            return
        except InvalidToken:
            raise
        except TelegramError as exc:
            delay = min(2.0 ** min(attempt - 1, 10), max_delay)
            log.warning(prompts.render("telegram_retry", step="连接 Telegram", attempt=attempt,
                                       error=exc, delay=f"{delay:g}"))  # fmt: skip
            time.sleep(delay)
