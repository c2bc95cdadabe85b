"""SQLAlchemy 2.0 typed models of sites, bindings, report versions and incidents.

Nothing is ever updated in place: a re-submitted report is a new version row, a rebinding closes
the old binding and opens a new one. Portable types only, so SQLite and PostgreSQL share one
schema (migrations in `bot/reports/migrations`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.reports.limits import LIMITS


class Base(DeclarativeBase):
    """Declarative base of the report models."""


class Site(Base):
    """A 考点."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(LIMITS["code"].chars), unique=True)
    name: Mapped[str] = mapped_column(String(LIMITS["name"].chars))
    district: Mapped[str] = mapped_column(String(LIMITS["district"].chars), default="")
    # Kept for old rows only: codes are stored as a salted hash (`bot.reports.sites`).
    join_code: Mapped[str] = mapped_column(String(LIMITS["join_code"].chars), default="")
    join_salt: Mapped[str] = mapped_column(String(32), default="")
    join_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Binding(Base):
    """A user acting for a site (考点主考); `unbound_at` is set when they rebind elsewhere."""

    __tablename__ = "bindings"
    __table_args__ = (Index("bindings_user_active", "user_id", "unbound_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    user_name: Mapped[str] = mapped_column(String(200), default="")
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    bound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    site: Mapped[Site] = relationship(lazy="joined")


class Report(Base):
    """One version of a site's daily report. The highest version of a (site, day) is current."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("site_id", "report_date", "version"),
        Index("reports_day", "report_date", "site_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    report_date: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))  # "zero" | "full"
    expected: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 应考
    present: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 实考
    absent: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 缺考
    violations: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 违纪/作弊人数
    duty: Mapped[str] = mapped_column(Text, default="")  # 保密室值班情况
    equipment: Mapped[str] = mapped_column(Text, default="")  # 设备情况（监控、屏蔽）
    remarks: Mapped[str] = mapped_column(Text, default="")  # 备注
    submitted_by: Mapped[int] = mapped_column(BigInteger)
    submitted_name: Mapped[str] = mapped_column(String(200), default="")
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    session: Mapped[str] = mapped_column(String(32), default="")  # "" = the whole day
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON: template field -> value

    site: Mapped[Site] = relationship(lazy="joined")


class BindAttempt(Base):
    """A wrong join code sent by a user (the hourly limit on guesses survives restarts)."""

    __tablename__ = "bind_attempts"
    __table_args__ = (Index("bind_attempts_user", "user_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Incident(Base):
    """One version of an incident report entry (一般/较大/重大/特别重大).

    A thread is a first report (首报) and its follow-ups (续报, 终报), each an entry. An entry's
    first row is its original (`origin_id` NULL); a correction or a withdrawal is a new row with
    the original's id in `origin_id` and the next `version`, so nothing reported is overwritten.
    `thread_id` is the id of the thread's first original (NULL on that row itself).
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index("incidents_day", "report_date", "site_id"),
        Index("incidents_thread", "thread_id"),
        UniqueConstraint("origin_id", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    report_date: Mapped[date] = mapped_column(Date)
    level: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text)
    room: Mapped[str] = mapped_column(String(LIMITS["room"].chars), default="")  # 考场号
    # time as reported
    occurred: Mapped[str] = mapped_column(String(LIMITS["occurred"].chars), default="")
    measures: Mapped[str] = mapped_column(Text, default="")
    reported_by: Mapped[int] = mapped_column(BigInteger)
    reported_name: Mapped[str] = mapped_column(String(200), default="")
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stage: Mapped[str] = mapped_column(String(4), default="首报")  # 首报 | 续报 | 终报
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    origin_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)

    site: Mapped[Site] = relationship(lazy="joined")


class IncidentAck(Base):
    """招生办's acknowledgement of an incident thread (the first one counts; never replaced)."""

    __tablename__ = "incident_acks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    user_name: Mapped[str] = mapped_column(String(200), default="")
    acknowledged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IncidentPhoto(Base):
    """A photo of an incident thread, kept as a file under the data directory."""

    __tablename__ = "incident_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    path: Mapped[str] = mapped_column(String(300))  # relative to the data directory
    added_by: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProcessedUpdate(Base):
    """A platform delivery already handled, with the reply given (exactly-once writes)."""

    __tablename__ = "processed_updates"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    reply: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SentNotice(Base):
    """A scheduled notice already sent (reminder to a site, deadline digest), sent once."""

    __tablename__ = "sent_notices"
    __table_args__ = (UniqueConstraint("kind", "report_date", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "reminder" | "digest"
    report_date: Mapped[date] = mapped_column(Date)
    target: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AnswerLog(Base):
    """An answer as it was given (question, text, sources), so feedback can be reviewed."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    answered: Mapped[bool] = mapped_column(Boolean)
    mode: Mapped[str] = mapped_column(String(16))
    citations: Mapped[str] = mapped_column(Text)  # JSON list of the citations shown
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Feedback(Base):
    """A 👍/👎 on an answer; one vote per user and answer (a second tap changes it)."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("answer_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[int] = mapped_column(Integer)  # +1 or -1
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    answer: Mapped[AnswerLog] = relationship(lazy="joined")


class Notice(Base):
    """A message kaowu owes someone (reminder, digest, escalation): the notices outbox.

    Written in the same transaction as the event that causes it and marked sent only after the
    platform accepted it. `uncertain` is set while an attempt is in flight and kept after a
    timeout, so the next attempt knows the first one may have arrived and says it is a resend.
    """

    __tablename__ = "notices"
    __table_args__ = (Index("notices_due", "status", "next_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "reminder" | "digest" | "escalation"
    dedup: Mapped[str] = mapped_column(String(128), unique=True)  # one notice per cause
    chat_id: Mapped[int] = mapped_column(BigInteger)
    platform: Mapped[str] = mapped_column(String(16), default="telegram")  # whose sender sends it
    text: Mapped[str] = mapped_column(Text)
    choices: Mapped[str] = mapped_column(Text, default="")  # button texts, one per line
    status: Mapped[str] = mapped_column(String(8), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False)
    resent: Mapped[bool] = mapped_column(Boolean, default=False)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Identity(Base):
    """A user or group chat of one platform, under the internal id every other table stores.

    Telegram ids are their own internal ids; other platforms' ids are allocated (`bot.identity`).
    """

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "kind", "platform_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    platform: Mapped[str] = mapped_column(String(16))  # "telegram" | "dingtalk"
    kind: Mapped[str] = mapped_column(String(8))  # "user" | "group"
    platform_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
