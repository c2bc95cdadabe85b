"""Password-free sign-in: single-use links that open a browser session, both stored hashed.

A link is a random token whose SHA-256 is stored with its user and expiry; redeeming it marks it
used in the same transaction that opens the session, so a link works exactly once even when two
browsers race for it. Sessions are random tokens too (hashed in the database), each with its own
CSRF token for forms.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

import prompts
from bot.reports.views import aware
from bot.store.db import Database
from web.models import WebLink, WebSession

LINK_MINUTES = 10


class LinkRefused(Exception):
    """A sign-in link that cannot be used; the message (Chinese) says why and what to do."""


@dataclass(frozen=True)
class SessionInfo:
    """A signed-in browser."""

    user_id: int
    csrf: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(db: Database, user_id: int, now: datetime, base_url: str) -> str:
    """A new sign-in URL for `user_id`, valid once for `LINK_MINUTES` minutes."""
    token = secrets.token_urlsafe(32)
    with db.unit() as s:
        s.add(WebLink(token_hash=_hash(token), user_id=user_id, created_at=now,
                      expires_at=now + timedelta(minutes=LINK_MINUTES)))  # fmt: skip
    return f"{base_url.rstrip('/')}/login?t={token}"


def redeem(db: Database, token: str, now: datetime, hours: float) -> tuple[str, SessionInfo]:
    """Use a link once: (session token for the cookie, session). Raises `LinkRefused`."""
    with db.unit() as s:
        query = select(WebLink).where(WebLink.token_hash == _hash(token))
        if not db.is_sqlite:
            query = query.with_for_update()
        link = s.scalars(query).first()
        if link is None:
            raise LinkRefused(prompts.load("web_link_unknown"))
        if link.used_at is not None:
            raise LinkRefused(prompts.load("web_link_used"))
        if aware(link.expires_at) <= now:
            raise LinkRefused(prompts.render("web_link_expired", minutes=LINK_MINUTES))
        link.used_at = now
        session_token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires = now + timedelta(hours=hours)
        s.add(WebSession(token_hash=_hash(session_token), user_id=link.user_id, csrf=csrf,
                         created_at=now, expires_at=expires))  # fmt: skip
        return session_token, SessionInfo(link.user_id, csrf, expires)


def session(db: Database, token: str | None, now: datetime) -> SessionInfo | None:
    """The live session behind a cookie value, if any."""
    if not token:
        return None
    with db.read() as s:
        row = s.scalars(select(WebSession).where(WebSession.token_hash == _hash(token))).first()
        if row is None or row.ended_at is not None or aware(row.expires_at) <= now:
            return None
        return SessionInfo(row.user_id, row.csrf, aware(row.expires_at))


def end_session(db: Database, token: str, now: datetime) -> None:
    """Sign one browser out."""
    with db.unit() as s:
        s.execute(update(WebSession).where(WebSession.token_hash == _hash(token),
                                           WebSession.ended_at.is_(None)).values(ended_at=now))  # fmt: skip


def logout_all(db: Database, now: datetime | None = None) -> int:
    """End every open session; how many were open."""
    now = now or datetime.now(UTC)
    with db.unit() as s:
        ended = s.execute(
            update(WebSession).where(WebSession.ended_at.is_(None)).values(ended_at=now)
        )
        return int(getattr(ended, "rowcount", 0) or 0)
