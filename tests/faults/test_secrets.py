"""Secrets stay out of logs: whatever logs a bot token, an API key, a join code or an SQL error's
parameters — a message, its arguments or a traceback — the line written is redacted."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logsafe import Redactor, install_redaction

TOKEN = "7654321:AAH-secretTOKENvalue_abcdefghijklmnop"
KEY = "sk-proj-Abc123def456ghi789"


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through a redacting handler into a buffer."""
    buffer = io.StringIO()
    owner = logging.getLogger("kaowu-test-owner")
    owner.propagate = False
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    owner.addHandler(handler)
    owner.setLevel(logging.DEBUG)
    install_redaction(Redactor([TOKEN, KEY, "JOIN-0042"]), owner)
    yield owner, buffer
    owner.removeHandler(handler)


def test_token_in_request_urls_and_bare(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = log
    logger.info('HTTP Request: POST https://api.telegram.org/bot%s/getUpdates "200 OK"', TOKEN)
    logger.info("other token 1234567:%s", "Zy" * 20)  # one it was not told about
    text = buffer.getvalue()
    assert TOKEN not in text and TOKEN.split(":")[1] not in text and "Zy" * 20 not in text
    assert "https://api.telegram.org/bot***/getUpdates" in text


def test_api_keys_join_codes_and_sql_parameters_in_tracebacks(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = log
    try:
        raise RuntimeError(f"provider said: invalid key {KEY} and sk-otherKEY987654321")
    except RuntimeError:
        logger.exception("LLM failed")
    try:
        raise ValueError(
            "(psycopg.errors.UniqueViolation) duplicate\nDETAIL:  Key (code)=(001) exists"
            "\n[SQL: INSERT INTO sites (code, join_code) VALUES (%(code)s, %(join_code)s)]"
            "\n[parameters: {'code': '001', 'join_code': 'ZZ-TOP-9'}]\n(Background on this error)"
        )
    except ValueError:
        logger.exception("import failed")
    logger.warning("update text: /bind 001 JOIN-0042 and /bind 002 SOMECODE")
    text = buffer.getvalue()
    for secret in (KEY, "sk-otherKEY987654321", "ZZ-TOP-9", "JOIN-0042", "SOMECODE", "(001)"):
        assert secret not in text, secret
    assert "Traceback" in text and "[parameters: ***]" in text and "/bind 001 ***" in text
