"""incident lifecycle

Revision ID: 0004_incident_lifecycle
Revises: 0003
Create Date: 2026-11-23 22:40:00

Incidents become threads of versioned entries: stage (首报/续报/终报), the thread's first report,
the entry a correction or withdrawal replaces, its version and whether it withdraws. Existing
incidents become first reports, version 1, not withdrawn — every row is kept as it was. Adds
acknowledgements by 招生办, photos, and the buttons of a notice (an escalation's 确认收到).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_incident_lifecycle"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("stage", sa.String(length=4), nullable=False,
                                   server_default="首报"))  # fmt: skip
        batch.add_column(sa.Column("thread_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("origin_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("withdrawn", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))  # fmt: skip
        batch.create_foreign_key("incidents_thread_fk", "incidents", ["thread_id"], ["id"])
        batch.create_foreign_key("incidents_origin_fk", "incidents", ["origin_id"], ["id"])
        batch.create_unique_constraint("incidents_origin_version", ["origin_id", "version"])
    op.create_index("incidents_thread", "incidents", ["thread_id"])
    op.create_table(
        "incident_acks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id"),
    )
    op.create_table(
        "incident_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("added_by", sa.BigInteger(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_photos_incident_id", "incident_photos", ["incident_id"])
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("choices", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("choices")
    op.drop_index("ix_incident_photos_incident_id", table_name="incident_photos")
    op.drop_table("incident_photos")
    op.drop_table("incident_acks")
    op.drop_index("incidents_thread", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_constraint("incidents_origin_version", type_="unique")
        batch.drop_constraint("incidents_origin_fk", type_="foreignkey")
        batch.drop_constraint("incidents_thread_fk", type_="foreignkey")
        for column in ("withdrawn", "version", "origin_id", "thread_id", "stage"):
            batch.drop_column(column)
