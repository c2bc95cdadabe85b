"""A fake DingTalk on 127.0.0.1 for end-to-end tests of the real `dingtalk-stream` SDK client.

It serves the Stream gateway (connection-open endpoint and the websocket), the access-token
endpoint and the robot send endpoints. Tests push robot messages, which are delivered over the
websocket and delivered again on the next connection until acknowledged, as DingTalk does; every
send is recorded. Failures can be injected: a gateway that is down, a stream dropped right after
a delivery, tokens that expire or are revoked, rate-limit answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

CLIENT_ID = "dingkaowutest"
CLIENT_SECRET = "secret-for-tests"
CORP = "dingcorp01"
BOT_USER = "$:LWCP_v1:$bot"


@dataclass
class Sent:
    """One robot message sent through the OpenAPI."""

    to: str  # a staff id (private) or an openConversationId (group)
    kind: str  # "user" | "group"
    key: str  # msgKey
    param: dict[str, Any]

    @property
    def text(self) -> str:
        """The visible text of the message."""
        return str(self.param.get("text") or self.param.get("content") or "")

    @property
    def buttons(self) -> list[str]:
        """Button labels of an action card."""
        out = [self.param[k] for k in sorted(self.param) if k.startswith("actionTitle")]
        return out + ([self.param["singleTitle"]] if "singleTitle" in self.param else [])


@dataclass
class FakeDingTalk:
    """The fake server and its knobs."""

    token_lifetime: float = 7200.0
    gateway_down: bool = False
    drop_after_push: int = 0  # close the stream right after delivering this many more frames
    rate_limited: int = 0  # answer this many next sends with 429
    revoke: bool = False  # reject the current token once (as after a secret rotation)
    sent: list[Sent] = field(default_factory=list)
    token_calls: int = 0
    opens: int = 0
    open_refusals: int = 0
    rejected_tokens: int = 0
    rate_answers: int = 0
    acked: list[str] = field(default_factory=list)
    deliveries: dict[str, int] = field(default_factory=dict)  # stream message id -> times pushed

    def __post_init__(self) -> None:
        self._tokens: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._pending: dict[str, dict[str, Any]] = {}  # message id -> frame, until acked
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ server
    async def start(self) -> None:
        """Listen on a free port."""
        app = web.Application()
        app.router.add_post("/v1.0/oauth2/accessToken", self._token)
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/connect", self._stream)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._send)
        app.router.add_post("/v1.0/robot/groupMessages/send", self._send)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Close every stream and stop listening."""
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        """Base URL of the fake OpenAPI."""
        return f"http://127.0.0.1:{self.port}"

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.token_calls += 1
        if body.get("appKey") != CLIENT_ID or body.get("appSecret") != CLIENT_SECRET:
            return web.json_response(
                {"code": "invalidClientIdOrSecret", "message": "无效的凭证"}, status=400
            )
        token = f"tok-{self.token_calls}"
        self._tokens[token] = time.monotonic() + self.token_lifetime
        return web.json_response({"accessToken": token, "expireIn": self.token_lifetime})

    async def _open(self, request: web.Request) -> web.Response:
        if self.gateway_down:
            self.open_refusals += 1
            return web.json_response({"code": "ServiceUnavailable"}, status=503)
        body = await request.json()
        assert body["clientId"] == CLIENT_ID and body["clientSecret"] == CLIENT_SECRET
        assert {"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"} in body["subscriptions"]
        self.opens += 1
        return web.json_response(
            {"endpoint": f"ws://127.0.0.1:{self.port}/connect", "ticket": f"t{self.opens}"}
        )

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        assert request.query.get("ticket")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        for frame in list(self._pending.values()):  # not acknowledged on the last connection
            await self._push(ws, frame)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            ack = json.loads(msg.data)
            mid = ack.get("headers", {}).get("messageId")
            if mid in self._pending and ack.get("code") == 200:
                del self._pending[mid]
                self.acked.append(mid)
        self._sockets.remove(ws)
        return ws

    async def _push(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        mid = frame["headers"]["messageId"]
        self.deliveries[mid] = self.deliveries.get(mid, 0) + 1
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps(frame, ensure_ascii=False))
        if self.drop_after_push > 0:
            self.drop_after_push -= 1
            if self.drop_after_push == 0:
                await ws.close()

    def _valid(self, request: web.Request) -> bool:
        token = request.headers.get("x-acs-dingtalk-access-token", "")
        if self.revoke and token in self._tokens:
            self.revoke = False
            del self._tokens[token]
        return self._tokens.get(token, 0.0) > time.monotonic()

    async def _send(self, request: web.Request) -> web.Response:
        if not self._valid(request):
            self.rejected_tokens += 1
            return web.json_response(
                {"code": "InvalidAuthentication", "message": "不合法的access_token"}, status=401
            )
        if self.rate_limited > 0:
            self.rate_limited -= 1
            self.rate_answers += 1
            return web.json_response({"code": "Throttling.Api", "message": "请求被流控"}, status=429,
                                     headers={"Retry-After": "0.2"})  # fmt: skip
        body = await request.json()
        assert body["robotCode"] == CLIENT_ID
        param = json.loads(body["msgParam"])
        if "openConversationId" in body:
            self.sent.append(Sent(body["openConversationId"], "group", body["msgKey"], param))
        else:
            for uid in body["userIds"]:
                self.sent.append(Sent(uid, "user", body["msgKey"], param))
        return web.json_response({"processQueryKey": f"q{len(self.sent)}"})

    # ------------------------------------------------------------------ tests
    async def say(self, staff: str, text: str, group: str | None = None, at_bot: bool = True,
                  nick: str = "") -> str:  # fmt: skip
        """Deliver a robot message from `staff` (in private, or in `group`); its message id."""
        n = next(self._ids)
        mid = f"msg{n:04d}"
        data = {
            "conversationId": group or f"cid-private-{staff}",
            "conversationType": "2" if group else "1",
            "chatbotCorpId": CORP, "senderCorpId": CORP, "chatbotUserId": BOT_USER,
            "msgId": mid, "senderNick": nick or f"用户{staff}", "senderStaffId": staff,
            "senderId": f"$:LWCP_v1:${staff}", "isAdmin": False, "robotCode": CLIENT_ID,
            "createAt": int(time.time() * 1000), "msgtype": "text",
            "text": {"content": (" " + text) if group else text},
            "isInAtList": bool(at_bot) if group else None,
            "sessionWebhook": f"{self.url}/session", "sessionWebhookExpiredTime": 0,
        }  # fmt: skip
        if group and at_bot:
            data["atUsers"] = [{"dingtalkId": BOT_USER}]
        frame = {
            "specVersion": "1.0", "type": "CALLBACK",
            "headers": {"appId": CLIENT_ID, "connectionId": "c1", "contentType": "application/json",
                        "messageId": f"stream-{mid}", "time": str(int(time.time() * 1000)),
                        "topic": "/v1.0/im/bot/messages/get"},
            "data": json.dumps(data, ensure_ascii=False),
        }  # fmt: skip
        self._pending[f"stream-{mid}"] = frame
        if self._sockets:
            await self._push(self._sockets[-1], frame)
        return mid

    def to(self, target: str) -> list[Sent]:
        """Messages sent to a staff id or a conversation."""
        return [s for s in self.sent if s.to == target]

    async def wait_for(self, target: str, count: int = 1, timeout: float = 30.0) -> list[Sent]:
        """Wait until `target` has received at least `count` messages."""
        deadline = time.monotonic() + timeout
        while len(self.to(target)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{target} got {[s.text for s in self.to(target)]}")
            await asyncio.sleep(0.02)
        return self.to(target)

    async def wait_acked(self, timeout: float = 30.0) -> None:
        """Wait until every pushed message has been acknowledged."""
        deadline = time.monotonic() + timeout
        while self._pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"not acknowledged: {list(self._pending)}")
            await asyncio.sleep(0.02)

    def drop_streams(self) -> None:
        """Close every open stream (a network drop)."""
        for ws in list(self._sockets):
            asyncio.get_running_loop().create_task(ws.close())
