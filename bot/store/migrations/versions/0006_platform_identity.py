"""platform identity

Revision ID: 0006_platform_identity
Revises: 0003
Create Date: 2026-11-23 22:45:00

Users and chats become (platform, platform id), kept in `identities` under the internal integer
id every other table already stores. Telegram ids are their own internal ids, so no stored row
changes: every user and chat id found in the existing tables gets its identity row on platform
"telegram", and every queued notice is marked as Telegram's. Only tables of 0001-0003 are read,
so this migration can follow any other that leaves those tables in place.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006_platform_identity"
down_revision = "0005_templates_sessions_sites"
branch_labels = None
depends_on = None

# Every column of 0001-0003 that holds a Telegram user or chat id.
_ID_COLUMNS = (
    ("bindings", "user_id"),
    ("reports", "submitted_by"),
    ("incidents", "reported_by"),
    ("answers", "user_id"),
    ("answers", "chat_id"),
    ("feedback", "user_id"),
    ("notices", "chat_id"),
)


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("platform_id", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "kind", "platform_id"),
    )
    ids = " UNION ".join(f"SELECT {col} AS id FROM {table}" for table, col in _ID_COLUMNS)
    # Telegram's private chat ids are its user ids (positive); groups are negative.
    op.execute(
        sa.text(
            "INSERT INTO identities (id, platform, kind, platform_id, display_name, created_at) "
            "SELECT u.id, 'telegram', CASE WHEN u.id > 0 THEN 'user' ELSE 'group' END, "
            f"CAST(u.id AS VARCHAR(32)), '', :now FROM ({ids}) u"
        ).bindparams(now=datetime.now(UTC))
    )
    with op.batch_alter_table("notices") as batch:
        batch.add_column(
            sa.Column("platform", sa.String(length=16), nullable=False, server_default="telegram")
        )


def downgrade() -> None:
    # Notices for other platforms could only be sent to the wrong people by Telegram.
    op.execute(sa.text("DELETE FROM notices WHERE platform <> 'telegram'"))
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("platform")
    op.drop_table("identities")
