"""The notices outbox: reminders, digests and escalations as database rows, sent by one sender.

A notice row is written in the same transaction as its cause (the incident, the deadline run),
so a crash can delay it but never lose it. `deliver` claims due rows, hands each to a `Sender`,
and records the outcome only afterwards: sent when the platform accepted it, retried with
backoff after a transient error, failed with the reason after a permanent one. An attempt whose
outcome is unknown (a timeout, or a process killed mid-send) leaves the row `uncertain`; the
next attempt is marked as a resend so the reader knows it may be a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

import prompts
from bot.identity import platform_of
from bot.store.db import Database
from bot.store.models import Notice

log = logging.getLogger(__name__)

# An attempt not recorded within this time is taken as lost with its process and claimed again.
CLAIM_LEASE = timedelta(seconds=60)
_BACKOFF_CAP = 300.0


class SendError(Exception):
    """A send the platform did not accept; `reason` is kept with the notice."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentSendError(SendError):
    """Retrying cannot help (bot blocked, chat not found, bad request)."""


class TransientSendError(SendError):
    """Worth retrying; `ambiguous` when the message may have arrived anyway (a timeout)."""

    def __init__(self, reason: str, ambiguous: bool = False) -> None:
        super().__init__(reason)
        self.ambiguous = ambiguous


class Sender(Protocol):
    """A platform that can deliver a text to a chat; it sends only notices of its `platform`."""

    platform: str

    async def send_text(self, chat_id: int, text: str, choices: tuple[str, ...] = ()) -> None:
        """Deliver `text` (with a button per choice, whose tap says its text); return only once
        the platform accepted it, else raise SendError."""
        ...


@dataclass(frozen=True)
class PendingNotice:
    """A notice to enqueue: what it is, what causes it once (dedup), to whom, what it says."""

    kind: str
    dedup: str
    chat_id: int
    text: str
    choices: tuple[str, ...] = ()  # buttons under it (e.g. 确认收到 on an escalation)


@dataclass(frozen=True)
class NoticeView:
    """A stored notice as shown to coordinators and tests."""

    id: int
    kind: str
    chat_id: int
    text: str
    status: str
    attempts: int
    last_error: str
    resent: bool


@dataclass
class DeliveryReport:
    """What one `deliver` pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


def _view(n: Notice) -> NoticeView:
    return NoticeView(
        n.id, n.kind, int(n.chat_id), n.text, n.status, n.attempts, n.last_error, n.resent
    )


def _wall_now() -> datetime:
    return datetime.now(UTC)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class Outbox:
    """Notice rows: queued with their cause, claimed, and settled after each send."""

    def __init__(
        self,
        db: Database,
        retry_seconds: float = 5.0,
        max_attempts: int = 12,
        now: Callable[[], datetime] = _wall_now,
    ) -> None:
        # Retry times are operational, so they follow the wall clock even when the report
        # service runs on a test clock.
        self.db = db
        self.retry_seconds = retry_seconds
        self.max_attempts = max_attempts
        self.now = now

    # ------------------------------------------------------------------ queueing
    def add(self, s: Session, notices: Iterable[PendingNotice]) -> list[int]:
        """Queue notices inside the caller's transaction; ones already queued are skipped."""
        notices = list(notices)
        if not notices:
            return []
        existing = set(
            s.scalars(select(Notice.dedup).where(Notice.dedup.in_([n.dedup for n in notices])))
        )
        now = self.now()
        rows = []
        for n in notices:
            if n.dedup in existing:
                continue
            existing.add(n.dedup)
            row = Notice(
                kind=n.kind, dedup=n.dedup, chat_id=n.chat_id, platform=platform_of(n.chat_id),
                text=n.text, choices="\n".join(n.choices), status="pending",
                attempts=0, uncertain=False, resent=False, next_at=now, last_error="",
                created_at=now,
            )  # fmt: skip
            s.add(row)
            rows.append(row)
        s.flush()
        return [r.id for r in rows]

    # ------------------------------------------------------------------ sending
    def _claim(self, notice_id: int) -> tuple[int, str, bool, tuple[str, ...]] | None:
        """Take a due notice for one attempt: (chat, text, is_resend, choices), or None."""
        now = self.now()
        with self.db.unit() as s:
            row = s.get(Notice, notice_id)
            if row is None or row.status != "pending" or _aware(row.next_at) > now:
                return None
            chat_id, text, attempts = int(row.chat_id), row.text, row.attempts
            choices = tuple(c for c in (row.choices or "").split("\n") if c)
            resend = bool(row.uncertain)  # the last attempt's outcome is unknown
            claimed = s.execute(
                update(Notice)
                .where(Notice.id == notice_id, Notice.attempts == attempts)
                .values(
                    attempts=attempts + 1,
                    uncertain=True,
                    next_at=now + CLAIM_LEASE,
                    **({"resent": True} if resend else {}),
                )
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if not claimed:  # another sender (the bot and a cron tick) took it first
                return None
            return chat_id, text, resend, choices

    def _settle(self, notice_id: int, **values: object) -> None:
        with self.db.unit() as s:
            s.execute(update(Notice).where(Notice.id == notice_id).values(**values))

    def _backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.retry_seconds * 2 ** max(attempts - 1, 0), _BACKOFF_CAP))

    def due_ids(self, limit: int = 100, platform: str | None = None) -> list[int]:
        """Ids of pending notices whose time has come (for one platform), oldest first."""
        query = select(Notice.id).where(Notice.status == "pending", Notice.next_at <= self.now())
        if platform is not None:
            query = query.where(Notice.platform == platform)
        with self.db.read() as s:
            return list(s.scalars(query.order_by(Notice.id).limit(limit)))

    async def deliver(
        self,
        sender: Sender,
        run: Callable[..., Any] | None = None,
        limit: int = 100,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> DeliveryReport:
        """Send every due notice once through `sender` and record each outcome.

        `run(fn, *args)` runs a blocking database call (the bot passes `asyncio.to_thread`);
        by default calls are made directly. `keep_going` is asked before each notice, so a
        shutting-down bot stops between sends (what is left stays pending for the next start).
        """

        async def call(fn: Callable[..., Any], *args: Any) -> Any:
            if run is None:
                return fn(*args)
            return await run(fn, *args)

        report = DeliveryReport()
        for notice_id in await call(self.due_ids, limit, sender.platform):
            if not keep_going():
                break
            claimed = await call(self._claim, notice_id)
            if claimed is None:
                continue
            chat_id, text, resend, choices = claimed
            if resend:
                text = prompts.load("notice_resend") + "\n" + text
            try:
                if choices:
                    await sender.send_text(chat_id, text, choices=choices)
                else:
                    await sender.send_text(chat_id, text)
            except PermanentSendError as exc:
                log.warning("notice %s to %s failed for good: %s", notice_id, chat_id, exc.reason)
                await call(self._fail, notice_id, exc.reason)
                report.failed += 1
            except TransientSendError as exc:
                log.warning("notice %s to %s will be retried: %s", notice_id, chat_id, exc.reason)
                gave_up = await call(self._retry, notice_id, exc.reason, exc.ambiguous)
                report.failed += int(gave_up)
                report.retried += int(not gave_up)
            else:
                await call(self._sent, notice_id)
                report.sent += 1
        return report

    def _sent(self, notice_id: int) -> None:
        self._settle(notice_id, status="sent", uncertain=False, sent_at=self.now())

    def _fail(self, notice_id: int, reason: str) -> None:
        self._settle(notice_id, status="failed", uncertain=False, last_error=reason[:1000])

    def _retry(self, notice_id: int, reason: str, ambiguous: bool) -> bool:
        """Schedule the next attempt; True when a non-escalation has run out of attempts."""
        with self.db.unit() as s:
            row = s.get(Notice, notice_id)
            if row is None:
                return False
            # Escalations are delivered at least once: they never give up.
            if row.kind != "escalation" and row.attempts >= self.max_attempts:
                row.status, row.uncertain = "failed", False
                row.last_error = f"重试 {row.attempts} 次仍未送达：{reason}"[:1000]
                return True
            row.next_at = self.now() + self._backoff(row.attempts)
            row.uncertain = ambiguous
            row.last_error = reason[:1000]
            return False

    # ------------------------------------------------------------------ reading
    def notices(self, status: str | None = None, since_id: int = 0) -> list[NoticeView]:
        """Stored notices (of one status), oldest first."""
        query = select(Notice).where(Notice.id > since_id).order_by(Notice.id)
        if status is not None:
            query = query.where(Notice.status == status)
        with self.db.read() as s:
            return [_view(n) for n in s.scalars(query)]

    def failed_recent(self, days: int = 7) -> list[NoticeView]:
        """Notices that could not be delivered, queued in the last `days` days."""
        since = self.now() - timedelta(days=days)
        query = (
            select(Notice)
            .where(Notice.status == "failed", Notice.created_at >= since)
            .order_by(Notice.id)
        )
        with self.db.read() as s:
            return [_view(n) for n in s.scalars(query)]

    def last_id(self) -> int:
        """The highest notice id so far (0 when none)."""
        with self.db.read() as s:
            return int(s.scalar(select(Notice.id).order_by(Notice.id.desc()).limit(1)) or 0)
