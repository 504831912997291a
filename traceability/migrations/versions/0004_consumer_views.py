"""consumer_views and consumer_view_refs: the public view of each lot, derived at write time

A lot's consumer view is rebuilt (and its chain verified) in the transaction
that records an event for the lot or one of its ancestors, so a QR lookup is
one primary-key read. Existing lots get no row here (building one verifies the
lot's chain, minutes for a large store): until ``nongshu trace audit`` (or a
verify, or the lot's next event) stores it, a lookup builds the view as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_views",
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("season", sa.Integer(), nullable=True),
        sa.Column("chain_ok", sa.Boolean(), nullable=False),
        sa.Column("checkpoint_size", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"]),
        sa.PrimaryKeyConstraint("gtin", "lot"),
        sa.UniqueConstraint("lot_id"),
    )
    op.create_table(
        "consumer_view_refs",
        sa.Column("ref", sa.String(length=310), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"]),
        sa.PrimaryKeyConstraint("ref", "lot_id"),
    )
    with op.batch_alter_table("consumer_view_refs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consumer_view_refs_lot_id"), ["lot_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consumer_view_refs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consumer_view_refs_lot_id"))
    op.drop_table("consumer_view_refs")
    op.drop_table("consumer_views")
