"""Secrets never reach a log line: the bot token, API keys, join codes, SQL parameters.

`install_redaction` wraps the formatter of every root handler, so the whole formatted record is
cleaned — message, arguments and traceback alike — whichever library logged it (httpx logs
request URLs, which carry the bot token).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Bot API URLs: /bot<id>:<secret>/method
    (re.compile(r"bot\d{3,}:[A-Za-z0-9_-]{10,}"), "bot" + MASK),
    # A bare bot token anywhere
    (re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}\b"), MASK),
    # OpenAI-style API keys (sk-..., sk-proj-...)
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-" + MASK),
    # Authorization headers
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + MASK),
    # SQLAlchemy error parameters (join codes, report text)
    (re.compile(r"\[parameters: .*?\](?=\s*(?:\(|$))", re.S), "[parameters: " + MASK + "]"),
    (re.compile(r"""(?i)(join_code['"]?\s*[:=]\s*['"]?)[^\s,;'")}]+"""), r"\1" + MASK),
    # PostgreSQL error details quote the row or key values
    (re.compile(r"(DETAIL:\s+).*"), r"\1" + MASK),
    # The join code of a /bind command
    (re.compile(r"(/bind(?:@\w+)?\s+\S+\s+)\S+"), r"\1" + MASK),
)


class Redactor:
    """Replaces known secrets and secret-looking patterns in text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str | None]) -> None:
        """Also hide these exact strings (short ones would hide ordinary words, so >= 4 chars)."""
        self._secrets |= {s for s in secrets if s and len(s) >= 4}

    def __call__(self, text: str) -> str:
        """`text` with every secret masked."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text


class RedactingFormatter(logging.Formatter):
    """A formatter that passes its output through a `Redactor`."""

    def __init__(self, inner: logging.Formatter, redact: Redactor) -> None:
        super().__init__()
        self.inner = inner
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        """The inner formatter's line, redacted."""
        return self.redact(self.inner.format(record))


def install_redaction(redact: Redactor, logger: logging.Logger | None = None) -> None:
    """Redact everything the handlers of `logger` (default: root) write."""
    for handler in (logger or logging.getLogger()).handlers:
        inner = handler.formatter or logging.Formatter()
        if isinstance(inner, RedactingFormatter):
            inner.redact.add(redact._secrets)
            continue
        handler.setFormatter(RedactingFormatter(inner, redact))
