"""events.document_digest and the log_nodes table (stored Merkle subtrees for O(log n) proofs)

Existing logs get their nodes rebuilt from ``log_leaves`` and existing events
their document digest (one pass each, O(n)). Events signed before this
revision keep their version 1 signature (without the digest) and are verified
the old way: their EPCIS hash is re-derived from the document.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 10_000


def upgrade() -> None:
    from traceability import merkle

    # Plain ALTER TABLE (SQLite >= 3.35 adds and drops columns in place, no table copy).
    op.add_column("events", sa.Column("document_digest", sa.String(length=64), nullable=True))
    nodes = op.create_table(
        "log_nodes",
        sa.Column(
            "key",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # SQLite: the rowid itself
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    conn = op.get_bind()
    import hashlib

    rows = conn.execute(sa.text("SELECT seq, document FROM events")).all()
    for start in range(0, len(rows), _BATCH):
        conn.execute(
            sa.text("UPDATE events SET document_digest = :d WHERE seq = :s"),
            [
                {"s": seq, "d": hashlib.sha256(doc.encode("utf-8")).hexdigest()}
                for seq, doc in rows[start : start + _BATCH]
            ],
        )
    frontier: list[tuple[int, bytes]] = []
    pending: list[dict[str, object]] = []
    for (leaf,) in conn.execute(sa.text('SELECT leaf_hash FROM log_leaves ORDER BY "index"')):
        frontier, new = merkle.append_with_nodes(frontier, bytes.fromhex(leaf))
        pending.extend({"key": k, "hash": h.hex()} for k, h in new)
        if len(pending) >= _BATCH:
            op.bulk_insert(nodes, pending)
            pending = []
    if pending:
        op.bulk_insert(nodes, pending)


def downgrade() -> None:
    op.drop_table("log_nodes")
    op.drop_column("events", "document_digest")
