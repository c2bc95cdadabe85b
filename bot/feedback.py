"""The answer log: every answer shown in chat, with its sources and the 👍/👎 it received."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bot.qa import Answer
from bot.reports.limits import printable
from bot.reports.schedule import Clock
from bot.store.db import Database
from bot.store.models import AnswerLog, Feedback


@dataclass(frozen=True)
class LoggedAnswer:
    """An answer as it was given."""

    id: int
    chat_id: int
    user_id: int
    question: str
    answer: str
    answered: bool
    mode: str
    citations: list[dict[str, Any]]
    created_at: datetime
    up: int = 0
    down: int = 0


class AnswerLogService:
    """Records answers and feedback, one transaction each."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def record(self, chat_id: int, user_id: int, answer: Answer) -> int:
        """Store an answer with everything needed to show its sources later; returns its id."""
        cites = [
            {**c.public(), "chunk_id": c.chunk_id, "path": c.path, "start": c.start, "end": c.end}
            for c in answer.citations
        ]
        with self.db.unit() as s:
            row = AnswerLog(
                chat_id=chat_id,
                user_id=user_id,
                question=printable(answer.question),
                answer=printable(answer.answer),
                answered=answer.answered,
                mode=answer.mode,
                citations=json.dumps(cites, ensure_ascii=False),
                created_at=self.clock.now().astimezone(UTC),
            )
            s.add(row)
            s.flush()
            return int(row.id)

    def get(self, answer_id: int) -> LoggedAnswer | None:
        """One logged answer with its vote counts."""
        with self.db.read() as s:
            row = s.get(AnswerLog, answer_id)
            return None if row is None else self._view(s, row)

    def vote(self, answer_id: int, user_id: int, value: int) -> LoggedAnswer | None:
        """Record (or change) a user's vote; the answer with updated counts, None if unknown."""
        value = 1 if value > 0 else -1
        with self.db.unit() as s:
            row = s.get(AnswerLog, answer_id)
            if row is None:
                return None
            existing = s.scalars(
                select(Feedback).where(Feedback.answer_id == answer_id, Feedback.user_id == user_id)
            ).first()
            now = self.clock.now().astimezone(UTC)
            if existing is None:
                s.add(Feedback(answer_id=answer_id, user_id=user_id, value=value, created_at=now))
            else:
                existing.value, existing.created_at = value, now
            s.flush()
            return self._view(s, row)

    def recent(self, limit: int = 50, only_negative: bool = False) -> list[LoggedAnswer]:
        """The latest answers that received feedback (for review), newest first."""
        with self.db.read() as s:
            query = select(Feedback.answer_id).group_by(Feedback.answer_id)
            if only_negative:
                query = query.having(func.min(Feedback.value) < 0)
            ids = list(s.scalars(query))
            rows = s.scalars(
                select(AnswerLog)
                .where(AnswerLog.id.in_(ids))
                .order_by(AnswerLog.id.desc())
                .limit(limit)
            )
            return [self._view(s, r) for r in rows]

    def latest(self, limit: int = 100) -> list[LoggedAnswer]:
        """The latest answers and declined questions, newest first (for the web console)."""
        with self.db.read() as s:
            rows = s.scalars(select(AnswerLog).order_by(AnswerLog.id.desc()).limit(limit))
            return [self._view(s, r) for r in rows]

    @staticmethod
    def _view(s: Any, row: AnswerLog) -> LoggedAnswer:
        votes = dict(
            s.execute(
                select(Feedback.value, func.count())
                .where(Feedback.answer_id == row.id)
                .group_by(Feedback.value)
            ).all()
        )
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        return LoggedAnswer(
            row.id, row.chat_id, row.user_id, row.question, row.answer, row.answered, row.mode,
            json.loads(row.citations), created, votes.get(1, 0), votes.get(-1, 0),
        )  # fmt: skip
