"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of the real PTB stack.

It speaks the HTTP API that python-telegram-bot uses (`/bot<token>/<method>`), queues updates
that tests push, records every call, and can fail chosen calls (429 with retry_after, 500).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 7000001
BOT_USERNAME = "kaowu_test_bot"
_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests",
}
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "考务助手", "username": BOT_USERNAME}


def user(uid: int, name: str = "") -> dict[str, Any]:
    """A Telegram User object."""
    return {"id": uid, "is_bot": False, "first_name": name or f"用户{uid}"}


def chat(cid: int) -> dict[str, Any]:
    """A private chat (positive id) or a supergroup (negative id)."""
    if cid > 0:
        return {"id": cid, "type": "private", "first_name": f"用户{cid}"}
    return {"id": cid, "type": "supergroup", "title": f"考务群{cid}"}


def _utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def entities(text: str) -> list[dict[str, Any]]:
    """Entities a real client would send: the leading /command and @mentions (UTF-16 offsets)."""
    out = []
    command_end = 0
    m = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    if m:
        command_end = m.end()
        out.append({"type": "bot_command", "offset": 0, "length": _utf16(m.group(0))})
    for m in re.finditer(r"@[A-Za-z0-9_]{5,}", text):
        if m.start() >= command_end:  # not the @bot suffix of the command itself
            out.append({"type": "mention", "offset": _utf16(text[: m.start()]),
                        "length": _utf16(m.group(0))})  # fmt: skip
    return out


@dataclass
class Call:
    """One recorded API call."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


class FakeBotAPI:
    """The server; `base_url` is what TELEGRAM_BASE_URL should be set to."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token  # when set, other tokens get 401 Unauthorized like the real API
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.members: dict[tuple[int, int], str] = {}  # (chat, user) -> status
        self._failures: list[tuple[str, int, int | None, int, int | None]] = []
        self._slow: list[tuple[str, float, int, int | None]] = []
        # Random faults (soak): share of calls of `chaos_methods` that fail, and what happened.
        self.chaos = 0.0
        self.chaos_methods: tuple[str, ...] = ("sendMessage",)
        self.chaos_slow = 3.0
        self.chaos_rng = random.Random(9)
        self.injected: dict[str, int] = {}
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._new = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.sent_by_id: dict[int, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}  # file_id -> bytes of photos users sent

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/bot{token}/{method}", self._dispatch)
        app.router.add_route("GET", "/bot{token}/{method}", self._dispatch)
        app.router.add_route("GET", "/file/bot{token}/{path:.*}", self._download)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/bot"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ test controls
    def fail(
        self,
        method: str,
        status: int,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (to `chat_id`, if given) fail with `status`."""
        self._failures.append((method, status, retry_after, times, chat_id))

    def slow(self, method: str, seconds: float, times: int = 1, chat_id: int | None = None) -> None:
        """Handle the next `times` calls of `method` (to `chat_id`) but answer `seconds` late:
        the message is delivered, the client times out not knowing it."""
        self._slow.append((method, seconds, times, chat_id))

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        update["update_id"] = next(self._update_ids)
        self.updates.append(update)
        self._new.set()
        return int(update["update_id"])

    def say(self, uid: int, cid: int, text: str, reply_to: dict[str, Any] | None = None) -> int:
        """A user sends a text message; returns the update id."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids), "date": int(time.time()), "chat": chat(cid),
            "from": user(uid), "text": text,
        }  # fmt: skip
        ents = entities(text)
        if ents:
            message["entities"] = ents
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return self.push({"message": message})

    def photo(self, uid: int, cid: int, data: bytes, caption: str = "",
              document: bool = False) -> int:  # fmt: skip
        """A user sends a photo (or an image as a file); its bytes are served by getFile."""
        file_id = f"file{len(self.uploads) + 1}"
        self.uploads[file_id] = data
        meta = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data)}
        message: dict[str, Any] = {
            "message_id": next(self._message_ids), "date": int(time.time()), "chat": chat(cid),
            "from": user(uid),
        }  # fmt: skip
        if document:
            message["document"] = {**meta, "file_name": "现场.png", "mime_type": "image/png"}
        else:
            message["photo"] = [{**meta, "width": 90, "height": 90},
                                {**meta, "width": 1280, "height": 960}]  # fmt: skip
        if caption:
            message["caption"] = caption
        return self.push({"message": message})

    def tap(self, uid: int, message: dict[str, Any], data: str) -> int:
        """A user taps an inline button of a message the bot sent."""
        return self.push({"callback_query": {
            "id": str(next(self._message_ids)), "from": user(uid), "message": message,
            "chat_instance": "ci", "data": data,
        }})  # fmt: skip

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        """Recorded calls of a method (to one chat if given)."""
        return [
            c for c in self.calls
            if c.method == method and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
        ]  # fmt: skip

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> list[Call]:
        """Wait until `predicate(calls)` is truthy; return the calls."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.calls):
                return self.calls
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"timed out; calls so far: {[(c.method, c.params) for c in self.calls]}"
        )

    async def settle(self, seconds: float = 0.8) -> None:
        """Give the bot time to (not) react."""
        await asyncio.sleep(seconds)

    # ------------------------------------------------------------------ HTTP
    async def _params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            params.update(await request.json())
        elif ctype.startswith("multipart/form-data"):
            reader = await request.multipart()
            async for part in reader:
                if part.filename:
                    files[part.name or "file"] = (part.filename, await part.read())
                else:
                    params[part.name or ""] = (await part.read()).decode()
        elif ctype.startswith("application/x-www-form-urlencoded"):
            params.update(dict(await request.post()))
        for key in ("reply_markup", "reply_parameters", "commands", "allowed_updates"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params, files

    async def _dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if self.token is not None and request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params, files = await self._params(request)
        for i, (name, status, retry_after, times, only) in enumerate(self._failures):
            if name == method and (only is None or int(params.get("chat_id", 0)) == only):
                self.calls.append(Call(f"{method}!{status}", params, files))
                self._failures[i] = (name, status, retry_after, times - 1, only)
                if times - 1 <= 0:
                    del self._failures[i]
                body: dict[str, Any] = {"ok": False, "error_code": status,
                                        "description": _DESCRIPTIONS.get(status, "Internal Server Error")}  # fmt: skip
                if retry_after is not None:
                    body["parameters"] = {"retry_after": retry_after}
                    body["description"] += f": retry after {retry_after}"
                return web.json_response(body, status=status)
        slow_by_chaos = 0.0
        if self.chaos and method in self.chaos_methods and self.chaos_rng.random() < self.chaos:
            kind = self.chaos_rng.choice(
                ("500", "429", "slow") if method != "getUpdates" else ("500", "429")
            )
            self.injected[kind] = self.injected.get(kind, 0) + 1
            if kind == "slow":  # delivered, but answered after the client gave up
                slow_by_chaos = self.chaos_slow
            else:
                self.calls.append(Call(f"{method}!{kind}", params, files))
                status = int(kind)
                body = {"ok": False, "error_code": status, "description": _DESCRIPTIONS.get(
                    status, "Internal Server Error")}  # fmt: skip
                if status == 429:
                    body["parameters"] = {"retry_after": 1}
                return web.json_response(body, status=status)
        if method != "getUpdates":
            self.calls.append(Call(method, params, files))
        handler = getattr(self, f"m_{method}", None)
        if handler is None:
            return web.json_response({"ok": True, "result": True})
        result = await handler(params, files)
        if slow_by_chaos:
            await asyncio.sleep(slow_by_chaos)
        for i, (name, seconds, times, only) in enumerate(self._slow):
            if name == method and (only is None or int(params.get("chat_id", 0)) == only):
                if times - 1 <= 0:
                    del self._slow[i]
                else:
                    self._slow[i] = (name, seconds, times - 1, only)
                await asyncio.sleep(seconds)
                break
        return web.json_response({"ok": True, "result": result})

    async def m_getMe(self, params: dict[str, Any], files: Any) -> Any:
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}  # fmt: skip

    async def m_getUpdates(self, params: dict[str, Any], files: Any) -> Any:
        offset = int(params.get("offset", 0) or 0)
        timeout = min(float(params.get("timeout", 0) or 0), 1.0)
        pending = [u for u in self.updates if u["update_id"] >= offset]
        if not pending and timeout:
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), timeout)
            pending = [u for u in self.updates if u["update_id"] >= offset]
        return pending[: int(params.get("limit", 100) or 100)]

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        cid = int(params["chat_id"])
        msg = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat(cid),
               "from": BOT_USER, **extra}  # fmt: skip
        if "inline_keyboard" in (params.get("reply_markup") or {}):  # only these come back
            msg["reply_markup"] = params["reply_markup"]
        self.sent_by_id[msg["message_id"]] = msg
        return msg

    async def m_sendMessage(self, params: dict[str, Any], files: Any) -> Any:
        return self._message(params, text=params.get("text", ""))

    async def m_editMessageText(self, params: dict[str, Any], files: Any) -> Any:
        return self._message(params, text=params.get("text", ""))

    async def m_sendDocument(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> Any:
        name, data = files.get("document", ("", b""))
        doc = {"file_id": f"f{len(data)}", "file_unique_id": f"u{len(data)}", "file_name": name,
               "file_size": len(data)}  # fmt: skip
        return self._message(params, document=doc, caption=params.get("caption", ""))

    async def m_getFile(self, params: dict[str, Any], files: Any) -> Any:
        file_id = str(params["file_id"])
        data = self.uploads[file_id]
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data),
                "file_path": f"photos/{file_id}.jpg"}  # fmt: skip

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].rsplit("/", 1)[-1].removesuffix(".jpg")
        self.calls.append(Call("download", {"file_id": file_id}))
        return web.Response(body=self.uploads[file_id])

    async def m_getChatMember(self, params: dict[str, Any], files: Any) -> Any:
        key = (int(params["chat_id"]), int(params["user_id"]))
        status = self.members.get(key, "left")
        return {"status": status, "user": user(key[1])}
