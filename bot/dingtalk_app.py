"""DingTalk (钉钉) front end: a thin adapter over the core, in Stream mode.

The official `dingtalk-stream` SDK receives robot messages over an outbound websocket (no public
address needed); replies and notices go out through the robot OpenAPI (`bot.dt_send`). Users and
conversations are DingTalk strings, turned into internal ids (`bot.identity`) before the core
sees them. A message is acknowledged only after it was handled, and one delivered again after a
reconnect is recognised by its id, so none is lost or answered twice. Reminders, digests and
escalations come from the same notices outbox as Telegram's; this pump sends DingTalk's only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import dingtalk_stream
import httpx
import websockets
from dingtalk_stream import AckMessage, CallbackMessage, ChatbotMessage

import prompts
from bot.core import Core
from bot.dt_send import (
    BadCredentials,
    Card,
    DingTalkAPI,
    DingTalkError,
    DingTalkSender,
    answer_cards,
    passage_cards,
    text_cards,
)
from bot.identity import Who, platform_of
from bot.messages import Message, Reply
from bot.services import Services
from bot.settings import DingTalkSettings

log = logging.getLogger(__name__)

_SEEN = 2000  # message ids remembered against redelivery
_STABLE_SECONDS = 5.0  # a stream that lasted this long was not a failed attempt
_ACTION = re.compile(r"^(?:(原文)\s*(\d+)\s+(\d+)|(👍|👎)\s*(\d+))$")


class DingTalkUnreachable(RuntimeError):
    """DingTalk could not be reached or refused the app; the message (Chinese) says why."""


class StreamClient(dingtalk_stream.DingTalkStreamClient):
    """The SDK client with a configurable gateway, and reconnects with growing pauses."""

    def __init__(self, settings: DingTalkSettings, max_delay: float = 60.0) -> None:
        cred = dingtalk_stream.Credential(
            settings.dingtalk_client_id, settings.dingtalk_client_secret
        )
        super().__init__(cred, logger=logging.getLogger("dingtalk_stream.client"))
        api = settings.dingtalk_api_url.rstrip("/")
        self.gateway = settings.dingtalk_gateway_url or api + "/v1.0/gateway/connections/open"
        self.timeout = settings.dingtalk_timeout
        self.max_delay = max_delay
        self.connected = asyncio.Event()
        self.connections = 0
        self.routing: set[asyncio.Task[Any]] = set()

    def open_connection(self) -> dict[str, Any]:
        """Ask the gateway for a websocket endpoint and ticket (raises when it cannot)."""
        topics = [{"type": "CALLBACK", "topic": t} for t in self.callback_handler_map]
        body = {"clientId": self.credential.client_id, "clientSecret": self.credential.client_secret,
                "subscriptions": topics, "ua": "kaowu", "localIp": ""}  # fmt: skip
        try:
            resp = httpx.post(self.gateway, json=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DingTalkUnreachable(
                prompts.render("dingtalk_unreachable", url=self.gateway, error=exc)
            ) from exc
        if resp.status_code >= 400:
            raise DingTalkError(resp.status_code, "", resp.text[:200])
        return dict(resp.json())

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop` is set, reconnecting after a drop (1 s, 2 s, ... 60 s)."""
        self.pre_start()
        attempt = 0
        while not stop.is_set():
            try:
                conn = await asyncio.to_thread(self.open_connection)
                uri = f"{conn['endpoint']}?ticket={quote_plus(conn['ticket'])}"
                async with websockets.connect(uri) as ws:
                    self.websocket = ws
                    self.connections += 1
                    self.connected.set()
                    opened = time.monotonic()
                    closing = asyncio.create_task(stop.wait())
                    reading = asyncio.create_task(self._read(ws))
                    await asyncio.wait({closing, reading}, return_when=asyncio.FIRST_COMPLETED)
                    closing.cancel()
                    reading.cancel()
                    with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                        await reading
                    if time.monotonic() - opened >= _STABLE_SECONDS:
                        attempt = 0
            except (OSError, websockets.WebSocketException, DingTalkError, DingTalkUnreachable,
                    KeyError, ValueError) as exc:  # fmt: skip
                self.connected.clear()
                attempt += 1
                delay = min(2.0 ** (attempt - 1), self.max_delay)
                log.warning(
                    prompts.render("dingtalk_retry", attempt=attempt, error=exc, delay=f"{delay:g}")
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            self.connected.clear()
            if stop.is_set():
                break
            # The server closed the stream (a drop, or DingTalk asking for a reconnect): open a
            # new one at once, but back off when streams keep closing as soon as they open.
            if time.monotonic() - opened < _STABLE_SECONDS:
                attempt += 1
                delay = min(2.0 ** (attempt - 1), self.max_delay)
                log.warning(prompts.render("dingtalk_retry", attempt=attempt,
                                           error="连接刚建立即被关闭", delay=f"{delay:g}"))  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _read(self, ws: Any) -> None:
        async for raw in ws:
            # Each frame is routed in its own task (the SDK's way); order per conversation is
            # kept by the handler's locks, which tasks reach in arrival order.
            task = asyncio.create_task(self.background_task(json.loads(raw)))
            self.routing.add(task)  # a reference, so a running task is not collected
            task.add_done_callback(self.routing.discard)


class _Handler(dingtalk_stream.ChatbotHandler):
    def __init__(self, bot: DingTalkBot) -> None:
        super().__init__()
        self.bot = bot

    async def process(self, callback: CallbackMessage) -> tuple[int, str]:
        await self.bot.on_message(ChatbotMessage.from_dict(callback.data))
        return AckMessage.STATUS_OK, "OK"


class DingTalkBot:
    """Turns robot messages into core `Message`s and its replies into DingTalk messages."""

    def __init__(
        self, services_factory: Callable[[], Services], settings: DingTalkSettings
    ) -> None:
        self._factory = services_factory
        self.settings = settings
        self.api = DingTalkAPI(settings)
        self.services: Services | None = None
        self.core: Core | None = None
        self.client = StreamClient(settings)
        self.client.register_callback_handler(ChatbotMessage.TOPIC, _Handler(self))
        self.stop = asyncio.Event()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._choices: dict[tuple[int, int], list[str]] = {}
        self._pump_wake = asyncio.Event()
        self._groups_logged: set[str] = set()
        self._refused: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Check DingTalk is reachable and the app valid, create services, connect the stream."""
        try:
            await self.api.token()
        except BadCredentials as exc:
            await self.api.close()
            raise DingTalkUnreachable(
                prompts.render("dingtalk_bad_credentials", detail=exc)
            ) from exc
        except (httpx.HTTPError, DingTalkError) as exc:
            await self.api.close()
            raise DingTalkUnreachable(
                prompts.render("dingtalk_unreachable", url=self.api.base, error=_short(exc))
            ) from exc
        self.services = await asyncio.to_thread(self._factory)
        self.core = Core(self.services)
        self._tasks = [asyncio.create_task(self.client.run(self.stop)),
                       asyncio.create_task(self._pump_loop())]  # fmt: skip

    async def close(self) -> None:
        """Stop the stream and the pump, then release services and the HTTP client."""
        self.stop.set()
        self._pump_wake.set()
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await task
        await self.api.close()
        if self.services is not None:
            self.services.close()
            self.services = None

    # ------------------------------------------------------------------ messages
    async def on_message(self, incoming: ChatbotMessage) -> None:
        """Handle one robot message (acknowledged by the SDK once this returns)."""
        key = str(incoming.message_id or "")
        if key and key in self._seen:
            return  # delivered again after a reconnect: already answered
        lock = self._locks.setdefault(str(incoming.conversation_id), asyncio.Lock())
        async with lock:
            if key and key in self._seen:
                return
            try:
                await self._handle(incoming)
            except Exception:
                log.exception("DingTalk message %s failed", key)
                with contextlib.suppress(Exception):
                    await self._send_to(
                        await self._chat_of(incoming),
                        [Card("考务助手", prompts.load("handler_error"), False)],
                    )
            if key:
                self._seen[key] = None
                while len(self._seen) > _SEEN:
                    self._seen.popitem(last=False)

    async def _handle(self, incoming: ChatbotMessage) -> None:
        assert self.core is not None and self.services is not None
        private = str(incoming.conversation_type) == "1"
        if not private and not incoming.is_in_at_list:
            return  # group messages are for kaowu only when it is @-mentioned
        if not self._allowed(incoming, private):
            if incoming.conversation_id in self._refused:
                return  # told once; further messages are ignored, as on Telegram
            self._refused.add(str(incoming.conversation_id))
            await self._send_to(
                await self._chat_of(incoming),
                [Card("考务助手", prompts.load("access_denied"), False)],
            )
            return
        if incoming.message_type != "text" or incoming.text is None:
            await self._send_to(
                await self._chat_of(incoming),
                [Card("考务助手", prompts.load("dingtalk_text_only"), False)],
            )
            return
        msg = await self._message(incoming, " ".join(str(incoming.text.content or "").split()))
        chosen = self._choices.pop((msg.chat_id, msg.user_id), None)
        if chosen and msg.text.isdigit() and 1 <= int(msg.text) <= len(chosen):
            msg = _with_text(msg, chosen[int(msg.text) - 1])  # "回复 1 确认"
        action = _ACTION.match(msg.text)
        if action:
            await self._action(msg, action)
            return
        replies = await asyncio.to_thread(self.core.handle, msg)
        await self.send(msg, replies)
        self._pump_wake.set()  # an escalation or /remind may have queued notices

    def _allowed(self, incoming: ChatbotMessage, private: bool) -> bool:
        """Groups: only DINGTALK_ALLOWED_CONVERSATIONS when set; private: the app's organisation."""
        allowed = self.settings.dingtalk_allowed_conversations
        if not private:
            cid = str(incoming.conversation_id)
            if cid not in self._groups_logged:  # the operator needs these ids for the settings
                self._groups_logged.add(cid)
                log.warning(prompts.render("dingtalk_group_seen",
                                           title=incoming.conversation_title or "", cid=cid))  # fmt: skip
            return not allowed or incoming.conversation_id in allowed
        # An internal app's robot is visible only inside its organisation; check it anyway.
        corp, mine = incoming.sender_corp_id, incoming.chatbot_corp_id
        return not (corp and mine and corp != mine)

    async def _message(self, incoming: ChatbotMessage, text: str) -> Message:
        assert self.services is not None and self.services.identities is not None
        ids = self.services.identities
        staff = str(incoming.sender_staff_id or incoming.sender_id)
        name = str(incoming.sender_nick or "")
        user = await asyncio.to_thread(ids.resolve, "dingtalk", staff, "user", name)
        private = str(incoming.conversation_type) == "1"
        chat = (
            user
            if private
            else await asyncio.to_thread(
                ids.resolve, "dingtalk", str(incoming.conversation_id), "group"
            )
        )
        return Message(user_id=user, chat_id=chat, text=text, user_name=name, is_private=private,
                       delivery_id=f"dt:{incoming.message_id}"[:64] if incoming.message_id else None)  # fmt: skip

    async def _chat_of(self, incoming: ChatbotMessage) -> Who:
        if str(incoming.conversation_type) == "1":
            return Who(
                0, "dingtalk", "user", str(incoming.sender_staff_id or incoming.sender_id), ""
            )
        return Who(0, "dingtalk", "group", str(incoming.conversation_id), "")

    async def _action(self, msg: Message, m: re.Match[str]) -> None:
        """原文 <answer> <n>, 👍 <answer>, 👎 <answer>: the answer buttons, or typed in a group."""
        assert self.core is not None
        if m.group(1):
            passage = await asyncio.to_thread(self.core.passage, int(m.group(2)), int(m.group(3)))
            cards = (
                passage_cards(passage)
                if passage
                else [Card("原文", prompts.load("passage_missing"), False)]
            )
        else:
            value = 1 if m.group(4) == "👍" else -1
            text = await asyncio.to_thread(self.core.rate, msg.user_id, int(m.group(5)), value)
            cards = [Card("考务助手", text, False)]
        await self.send_cards(msg.chat_id, cards)

    # ------------------------------------------------------------------ sending
    async def send(self, msg: Message, replies: list[Reply]) -> None:
        """Deliver core replies; every one is attempted, the first failure raised afterwards."""
        failure: Exception | None = None
        for r in replies:
            target = r.chat_id if r.chat_id is not None else msg.chat_id
            if platform_of(target) != "dingtalk":
                continue  # another platform's chat: its notices reach it through the outbox
            private = target == msg.user_id or (r.chat_id is None and msg.is_private)
            if r.answer is not None:
                cards = answer_cards(r.answer, r.answer_id, private)
            else:
                text = r.text
                if r.file is not None:  # files need DingTalk's media upload: not offered here
                    text += "\n（文件请在 Telegram 或命令行 kaowu reports export 中导出。）"
                cards = text_cards(text, r.choices, private)
                if r.choices and r.chat_id is None:
                    self._choices[(msg.chat_id, msg.user_id)] = list(r.choices)
            try:
                await self.send_cards(target, cards)
            except (DingTalkError, httpx.HTTPError) as exc:
                log.warning("sending to %s failed: %s", target, exc)
                failure = failure or exc
        if failure is not None:
            raise failure

    async def send_cards(self, chat_id: int, cards: list[Card]) -> None:
        """Send cards to an internal chat id."""
        assert self.services is not None and self.services.identities is not None
        to = await asyncio.to_thread(self.services.identities.who, chat_id)
        if to is None:
            raise DingTalkError(404, "", f"unknown chat {chat_id}")
        await self._send_to(to, cards)

    async def _send_to(self, to: Who, cards: list[Card]) -> None:
        for card in cards:
            await self.api.send(to, card)

    # ------------------------------------------------------------------ notices
    async def _pump_loop(self) -> None:
        """Queue due reminders and digests, send DingTalk's due notices; every poll or on kick."""
        assert self.services is not None
        poll = self.services.settings.reports.notice_poll_seconds
        while not self.stop.is_set():
            self._pump_wake.clear()
            await self.pump()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pump_wake.wait(), poll)

    async def pump(self) -> None:
        """One pass of the notices outbox for DingTalk (failures are retried on the next pass)."""
        services = self.services
        if services is None or services.notifier is None or services.reports is None:
            return
        assert services.identities is not None
        try:
            await asyncio.to_thread(services.notifier.tick, services.reports.now())
            sender = DingTalkSender(self.api, services.identities.who)
            await services.reports.outbox.deliver(sender, run=asyncio.to_thread,
                                                  keep_going=lambda: not self.stop.is_set())  # fmt: skip
        except Exception:
            log.exception("sending DingTalk notices failed")


def _with_text(msg: Message, text: str) -> Message:
    from dataclasses import replace

    return replace(msg, text=text)


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def serve(services_factory: Callable[[], Services], settings: DingTalkSettings,
                until: asyncio.Event | None = None) -> None:  # fmt: skip
    """Run the DingTalk bot until `until` is set (or forever); DingTalkUnreachable at start."""
    bot = DingTalkBot(services_factory, settings)
    await bot.start()
    try:
        await (until or asyncio.Event()).wait()
    finally:
        await bot.close()


def run(services_factory: Callable[[], Services], settings: DingTalkSettings) -> None:
    """Run until interrupted (`kaowu run --platform dingtalk`)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(services_factory, settings))
