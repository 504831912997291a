"""certificates: origin and supersedes as unbounded text (mixes of many lots and fields)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.alter_column(
            "origin", existing_type=sa.String(length=300), type_=sa.Text(), existing_nullable=False
        )
        batch.alter_column(
            "supersedes",
            existing_type=sa.String(length=300),
            type_=sa.Text(),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.alter_column(
            "supersedes",
            existing_type=sa.Text(),
            type_=sa.String(length=300),
            existing_nullable=True,
        )
        batch.alter_column(
            "origin", existing_type=sa.Text(), type_=sa.String(length=300), existing_nullable=False
        )
