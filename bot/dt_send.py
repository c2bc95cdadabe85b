"""DingTalk's robot OpenAPI: access token, sends to a user or a group, and notices as a `Sender`.

Used by the DingTalk front end for replies and by its notice pump, so both classify failures
alike. The access token is cached and renewed before it expires (and at once when DingTalk says
it is no longer valid); a rate-limit answer is waited out and the call repeated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

import prompts
from bot.identity import Who
from bot.messages import Passage
from bot.qa import Answer
from bot.render import where
from bot.reports.outbox import PermanentSendError, TransientSendError
from bot.settings import DingTalkSettings

log = logging.getLogger(__name__)

# DingTalk markdown messages are cut well below its 5000-character limit.
LIMIT = 3500
_RATE_CODES = ("Throttling", "QpsLimit", "LimitExceeded", "FlowControl")
_TOKEN_CODES = ("InvalidAuthentication", "InvalidAccessToken", "AccessTokenExpired")
_RATE_ATTEMPTS = 6


class DingTalkError(Exception):
    """DingTalk refused a call; `status` and `code` are what it answered."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}".strip())
        self.status, self.code = status, code


class BadCredentials(DingTalkError):
    """The client id or secret is wrong (the token endpoint refused them)."""


@dataclass(frozen=True)
class Card:
    """One message: markdown (or plain text) with optional buttons that send a text back."""

    title: str
    text: str
    markdown: bool = True
    buttons: tuple[tuple[str, str], ...] = ()  # (label, text the tap sends as the user)


class DingTalkAPI:
    """The OpenAPI calls kaowu makes, over one httpx client."""

    def __init__(
        self, settings: DingTalkSettings, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.base = settings.dingtalk_api_url.rstrip("/")
        self.robot_code = settings.dingtalk_robot_code or settings.dingtalk_client_id or ""
        self._http = httpx.AsyncClient(timeout=settings.dingtalk_timeout)
        self._token: tuple[str, float] | None = None  # (token, renew at)
        self._token_lock = asyncio.Lock()
        self._monotonic = monotonic

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    # ------------------------------------------------------------------ token
    async def token(self, force: bool = False) -> str:
        """A valid access token, fetched again shortly before the cached one expires."""
        async with self._token_lock:
            if not force and self._token and self._monotonic() < self._token[1]:
                return self._token[0]
            body = {
                "appKey": self.settings.dingtalk_client_id,
                "appSecret": self.settings.dingtalk_client_secret,
            }
            data = await self._post("/v1.0/oauth2/accessToken", body, token=None)
            expires = float(data.get("expireIn", 7200))
            # Renew with a fifth of the lifetime (at most five minutes) to spare.
            self._token = (
                str(data["accessToken"]),
                self._monotonic() + expires - min(300, expires / 5),
            )
            return self._token[0]

    # ------------------------------------------------------------------ calls
    async def _post(self, path: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        """POST once, waiting out rate limits; DingTalkError for any refusal."""
        headers = {"x-acs-dingtalk-access-token": token} if token else {}
        for attempt in range(_RATE_ATTEMPTS):
            resp = await self._http.post(self.base + path, json=body, headers=headers)
            try:
                data = resp.json()
            except ValueError:
                data = {}
            if resp.status_code < 400 and not data.get("code"):
                return data if isinstance(data, dict) else {}
            code, message = str(data.get("code", "")), str(data.get("message", resp.text[:200]))
            limited = resp.status_code == 429 or any(c in code for c in _RATE_CODES)
            if limited and attempt < _RATE_ATTEMPTS - 1:
                delay = _retry_after(resp, attempt)
                log.warning(prompts.render("dingtalk_rate_limited", detail=f"{code or 429}")
                            + f"，{delay:g} 秒后重试")  # fmt: skip
                await asyncio.sleep(delay)
                continue
            if token is None and resp.status_code in (400, 401, 403):
                raise BadCredentials(resp.status_code, code, message)
            raise DingTalkError(resp.status_code, code, message)
        raise AssertionError("unreachable")

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """An authenticated call; a token DingTalk no longer accepts is renewed and tried again."""
        try:
            return await self._post(path, body, await self.token())
        except DingTalkError as exc:
            if exc.status != 401 and exc.code not in _TOKEN_CODES:
                raise
            return await self._post(path, body, await self.token(force=True))

    async def send(self, to: Who, card: Card) -> None:
        """Send one message to a user (in private) or a group conversation."""
        key, param = _template(card)
        body: dict[str, Any] = {"robotCode": self.robot_code, "msgKey": key,
                                "msgParam": json.dumps(param, ensure_ascii=False)}  # fmt: skip
        if to.kind == "group":
            await self.call(
                "/v1.0/robot/groupMessages/send", {**body, "openConversationId": to.platform_id}
            )
        else:
            await self.call(
                "/v1.0/robot/oToMessages/batchSend", {**body, "userIds": [to.platform_id]}
            )


def _retry_after(resp: httpx.Response, attempt: int) -> float:
    try:
        return max(0.0, min(float(resp.headers.get("Retry-After", "")), 60.0))
    except ValueError:
        return min(0.5 * 2**attempt, 10.0)


def _template(card: Card) -> tuple[str, dict[str, str]]:
    """The robot message template (msgKey) and its parameters for a card."""
    if not card.buttons:
        if card.markdown:
            return "sampleMarkdown", {"title": card.title, "text": card.text}
        return "sampleText", {"content": card.text}
    buttons = card.buttons[:5]  # the largest action-card template has five buttons
    links = [
        (label, "dtmd://dingtalkclient/sendMessage?content=" + quote(say)) for label, say in buttons
    ]
    if len(links) == 1:
        return "sampleActionCard", {"title": card.title, "text": card.text,
                                    "singleTitle": links[0][0], "singleURL": links[0][1]}  # fmt: skip
    param = {"title": card.title, "text": card.text}
    for i, (label, url) in enumerate(links, 1):
        param[f"actionTitle{i}"], param[f"actionURL{i}"] = label, url
    return f"sampleActionCard{len(links)}", param


# ---------------------------------------------------------------------- rendering
def _md(text: str) -> str:
    """Plain text as DingTalk markdown: every line break kept."""
    return "  \n".join(text.split("\n"))


def split(text: str, limit: int = LIMIT) -> list[str]:
    """Cut a long text at line breaks into pieces below the limit."""
    out, cur = [], ""
    for line in text.split("\n"):
        while len(line) > limit:
            out.append(cur + line[: limit - len(cur)]) if cur else out.append(line[:limit])
            line = line[limit - len(cur) :] if cur else line[limit:]
            cur = ""
        if cur and len(cur) + len(line) + 1 > limit:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n{line}" if cur else line
    if cur or not out:
        out.append(cur)
    return out


def text_cards(text: str, choices: list[str], private: bool) -> list[Card]:
    """A text reply; choices as buttons in private, as numbered answers in groups."""
    if choices and not private:
        options = " / ".join(f"{i} {c}" for i, c in enumerate(choices, 1))
        text += "\n" + prompts.render("dingtalk_choices", options=options)
    pieces = split(text)
    cards = [Card("考务助手", p, markdown=False) for p in pieces]
    if choices and private:
        cards[-1] = Card("考务助手", _md(pieces[-1]), buttons=tuple((c, c) for c in choices))
    return cards


def answer_cards(answer: Answer, answer_id: int | None, private: bool) -> list[Card]:
    """An answer in markdown: the text with [n], the sources, then 原文 and 👍/👎 choices."""
    lines = [_md(answer.answer)]
    cites = answer.citations if answer.answered else answer.related
    if cites:
        heading = prompts.load("answer_sources_heading" if answer.answered else "related_heading")
        lines += ["", f"**{heading}**", ""]
        for c in cites:
            lines += [f"[{c.n}] {where(c)}", "", f"> {c.quote}", ""]
    text = "\n".join(lines).rstrip()
    buttons: list[tuple[str, str]] = []
    if answer_id is not None and answer.answered:
        buttons = [(f"原文 [{c.n}]", f"原文 {answer_id} {c.n}") for c in answer.citations][:3]
        buttons += [("👍 有帮助", f"👍 {answer_id}"), ("👎 没帮上", f"👎 {answer_id}")]
        if not private:
            text += "\n\n" + prompts.render("dingtalk_answer_actions", answer_id=answer_id)
            buttons = []
    pieces = split(text)
    cards = [Card("考务助手", p) for p in pieces]
    if buttons:
        cards[-1] = Card("考务助手", pieces[-1], buttons=tuple(buttons))
    return cards


def passage_cards(p: Passage) -> list[Card]:
    """The full passage behind a citation."""
    head = f"**[{p.n}] {p.title}{' · ' + p.section if p.section else ''}**"
    body = p.text if p.current else prompts.load("passage_changed") + "\n\n" + p.text
    return [Card("原文", x) for x in split(head + "\n\n" + _md(body))]


# ---------------------------------------------------------------------- notices
def classify(exc: Exception) -> PermanentSendError | TransientSendError:
    """Whether a failed send is worth retrying, and whether it may have gone through."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, DingTalkError):
        if exc.status == 429:
            return TransientSendError(prompts.render("dingtalk_rate_limited", detail=detail))
        if 400 <= exc.status < 500:
            return PermanentSendError(prompts.render("send_bad_request", detail=detail))
        return TransientSendError(prompts.render("send_failed", detail=detail))
    if isinstance(exc, httpx.TimeoutException):
        return TransientSendError(prompts.render("send_timed_out", detail=detail), ambiguous=True)
    return TransientSendError(prompts.render("send_failed", detail=detail))


class DingTalkSender:
    """Sends notice texts to DingTalk users and groups (internal ids resolved to theirs)."""

    platform = "dingtalk"

    def __init__(self, api: DingTalkAPI, who: Callable[[int], Who | None]) -> None:
        self.api = api
        self.who = who

    async def send_text(self, chat_id: int, text: str, choices: tuple[str, ...] = ()) -> None:
        """Deliver `text` (with its choices as buttons or numbered replies) to `chat_id`; raise
        a SendError saying whether a retry can help."""
        to = await asyncio.to_thread(self.who, chat_id)
        if to is None:
            raise PermanentSendError(
                prompts.render("send_bad_request", detail=f"未知的钉钉会话 {chat_id}")
            )
        private = to.kind == "user"
        if choices and not private:
            # A group reply of a number maps to a choice only within a dialogue; a notice's
            # choices are typed out instead (e.g. 确认收到 #12 is understood as written).
            text += "\n" + prompts.render("dingtalk_choices_typed", options=" / ".join(choices))
            choices = ()
        for card in text_cards(text, list(choices), private=private):
            try:
                await self.api.send(to, card)
            except (DingTalkError, httpx.HTTPError) as exc:
                raise classify(exc) from exc
