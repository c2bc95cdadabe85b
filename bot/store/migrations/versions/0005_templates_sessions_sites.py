"""report templates, sessions, hashed join codes and bind attempts

Revision ID: 0005_templates_sessions_sites
Revises: 0003
Create Date: 2026-11-23 22:40:00

Reports gain a `session` (empty: the whole day) and a JSON `data` column holding the values of
template fields; the legacy value columns stay and are still filled, so rows written before keep
reading the same. Join codes are hashed with a per-site salt: every existing plaintext code is
hashed here (upper-cased, so codes compare case-insensitively) and the plaintext is cleared, so
chiefs keep binding with the codes they were given. Wrong join codes are recorded per user
(`bind_attempts`) so the hourly limit holds across restarts. No table of another migration is
read or written.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0005_templates_sessions_sites"
down_revision = "0004_incident_lifecycle"
branch_labels = None
depends_on = None


def _hash(salt: str, code: str) -> str:
    # Same normalisation as bot.reports.sites.hash_join_code (a migration must not import app code).
    norm = unicodedata.normalize("NFKC", code).strip().upper()
    return hashlib.sha256((salt + ":" + norm).encode("utf-8")).hexdigest()


def upgrade() -> None:
    op.add_column(
        "reports", sa.Column("session", sa.String(length=32), nullable=False, server_default="")
    )
    op.add_column("reports", sa.Column("data", sa.Text(), nullable=False, server_default="{}"))
    op.add_column(
        "sites", sa.Column("join_salt", sa.String(length=32), nullable=False, server_default="")
    )
    op.add_column(
        "sites", sa.Column("join_hash", sa.String(length=64), nullable=False, server_default="")
    )
    op.create_table(
        "bind_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("bind_attempts_user", "bind_attempts", ["user_id", "at"])
    conn = op.get_bind()
    sites = sa.table(
        "sites",
        sa.column("id", sa.Integer),
        sa.column("join_code", sa.String),
        sa.column("join_salt", sa.String),
        sa.column("join_hash", sa.String),
    )
    for site_id, code in conn.execute(sa.select(sites.c.id, sites.c.join_code)).all():
        salt = secrets.token_hex(16)
        conn.execute(
            sites.update()
            .where(sites.c.id == site_id)
            .values(join_salt=salt, join_hash=_hash(salt, code or ""), join_code="")
        )


def downgrade() -> None:
    # Plaintext join codes cannot be recovered from their hashes: they must be re-imported.
    op.drop_index("bind_attempts_user", table_name="bind_attempts")
    op.drop_table("bind_attempts")
    # Plain DROP COLUMN (SQLite >= 3.35 has it): a batch copy of `sites` would drop the table
    # that bindings, reports and incidents refer to, which foreign keys refuse.
    for table, column in (("sites", "join_hash"), ("sites", "join_salt"), ("reports", "data"),
                          ("reports", "session")):  # fmt: skip
        op.drop_column(table, column)
