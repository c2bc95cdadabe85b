"""A fake OpenAI-compatible chat server on 127.0.0.1 for the real LangChain client.

Tests script each reply as a function of the request: it receives the numbered sources the
client sent (parsed from the prompt) and returns the assistant's text, or a `Fail`/`Slow`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fail:
    """Answer with an HTTP error."""

    status: int


@dataclass(frozen=True)
class Slow:
    """Answer after a delay."""

    seconds: float
    text: str


Script = Callable[[dict[int, str], str], "str | Fail | Slow"]
_SOURCE = re.compile(r'<source n="(\d+)"[^>]*>\n(.*?)\n</source>', re.DOTALL)


def sources_of(prompt: str) -> dict[int, str]:
    """The numbered sources in a user prompt."""
    return {int(n): text for n, text in _SOURCE.findall(prompt)}


def question_of(prompt: str) -> str:
    """The question in a user prompt."""
    m = re.search(r"<问题>\n(.*?)\n</问题>", prompt, re.DOTALL)
    return m.group(1) if m else ""


class FakeOpenAI:
    """Serves /v1/chat/completions from a script; records every request."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append({"path": self.path, "body": body,
                                      "auth": self.headers.get("Authorization")})  # fmt: skip
                user = next(m["content"] for m in body["messages"] if m["role"] == "user")
                outcome = fake.script(sources_of(user), question_of(user))
                if isinstance(outcome, Slow):
                    time.sleep(outcome.seconds)
                    outcome = outcome.text
                if isinstance(outcome, Fail):
                    payload = {
                        "error": {"message": f"fake error {outcome.status}", "type": "server_error"}
                    }
                    self._send(outcome.status, payload)
                    return
                self._send(200, {
                    "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": outcome}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })  # fmt: skip

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def prompts(self) -> list[tuple[str, str]]:
        """(system, user) of every request."""
        out = []
        for r in self.requests:
            msgs = {m["role"]: m["content"] for m in r["body"]["messages"]}
            out.append((msgs.get("system", ""), msgs.get("user", "")))
        return out
