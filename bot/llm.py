"""Optional LLM answers through LangChain (any `init_chat_model` id, e.g. openai:deepseek-chat).

The model sees numbered sources and the question, both as data; its reply is verified
(`bot.verify`) before anything is shown. Every failure — error, timeout, rate limit — ends in
the extractive answer within LLM_TIMEOUT, never in a blank or an exception.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import prompts
from bot.settings import LLMSettings

log = logging.getLogger(__name__)


class LLMUnavailable(RuntimeError):
    """The configured LLM cannot be set up; the message (Chinese) says how to fix it."""


@dataclass(frozen=True)
class Source:
    """One numbered source given to the model."""

    n: int
    title: str
    section: str
    text: str


def _data(text: str) -> str:
    # Angle brackets inside data could close our tags; full-width ones read the same.
    return text.replace("<", "＜").replace(">", "＞")


def build_messages(question: str, sources: list[Source]) -> list[tuple[str, str]]:
    """System and user messages for a question and its sources."""
    blocks = "\n".join(
        prompts.render(
            "llm_source", n=s.n, title=_data(s.title), section=_data(s.section), text=_data(s.text)
        )
        for s in sources
    )
    user = prompts.render("llm_user", sources=blocks, question=_data(question))
    return [("system", prompts.load("llm_system")), ("user", user)]


class LLMGenerator:
    """Calls the chat model with a hard time limit."""

    def __init__(self, settings: LLMSettings) -> None:
        if not settings.llm_model:
            raise LLMUnavailable("未设置 LLM_MODEL")
        try:
            from langchain.chat_models import init_chat_model
        except ImportError as exc:
            raise LLMUnavailable(
                "使用大模型回答需要 LangChain：pip install 'kaowu[llm]'；或清空 LLM_MODEL 只用摘录式回答。"
            ) from exc
        kwargs: dict[str, Any] = {
            "timeout": settings.llm_timeout,
            "max_retries": 0,
            "temperature": 0,
        }
        if settings.llm_base_url:
            kwargs["base_url"] = settings.llm_base_url
        if settings.llm_api_key:
            kwargs["api_key"] = settings.llm_api_key
        try:
            self.model = init_chat_model(settings.llm_model, **kwargs)
        except Exception as exc:  # unknown provider, missing integration package, bad arguments
            raise LLMUnavailable(f"无法初始化大模型 {settings.llm_model!r}：{exc}") from exc
        self.timeout = settings.llm_timeout
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="llm")

    def generate(self, question: str, sources: list[Source]) -> str:
        """The model's reply text; raises TimeoutError or the client's error on failure."""
        future = self._pool.submit(self.model.invoke, build_messages(question, sources))
        try:
            reply = future.result(timeout=self.timeout)
        except FutureTimeout as exc:
            future.cancel()
            raise TimeoutError(f"no reply within {self.timeout} s") from exc
        except Exception as exc:
            # The client has the same limit and, on a busy machine, may hit it first; its
            # timeout (openai.APITimeoutError, httpx.ReadTimeout, ...) is still a timeout.
            if any("Timeout" in cls.__name__ for cls in type(exc).__mro__):
                raise TimeoutError(f"no reply within {self.timeout} s") from exc
            raise
        content = reply.content
        if isinstance(content, list):  # some providers return content parts
            content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
        return str(content)

    def close(self) -> None:
        """Stop waiting for calls in flight."""
        self._pool.shutdown(wait=False, cancel_futures=True)
