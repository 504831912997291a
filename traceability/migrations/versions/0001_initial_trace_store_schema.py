"""initial trace store schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:05:52.306668
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gln", sa.String(length=13), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("public_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("business_contact", sa.String(length=100), nullable=True),
        sa.Column("contact_phone", sa.String(length=40), nullable=True),
        sa.Column("id_number", sa.String(length=40), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("private_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gln"),
    )
    op.create_table(
        "products",
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("crop", sa.String(length=40), nullable=False),
        sa.Column("variety", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("gtin"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=12), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("revoked_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=300), nullable=False),
        sa.Column("event_hash", sa.String(length=100), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("biz_step", sa.String(length=200), nullable=True),
        sa.Column("event_time", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("corrects_event_id", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
        sa.UniqueConstraint("log_index"),
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uri", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("field_id", sa.String(length=60), nullable=True),
        sa.Column("township", sa.String(length=100), nullable=True),
        sa.Column("cooperative_id", sa.String(length=60), nullable=True),
        sa.Column("cooperative_name", sa.String(length=200), nullable=True),
        sa.Column("crop", sa.String(length=40), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uri"),
    )
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_locations_field_id"), ["field_id"], unique=False)

    op.create_table(
        "lots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=False),
        sa.Column("quantity_kg", sa.Float(), nullable=True),
        sa.Column("custodian_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("in_transit_to_id", sa.Integer(), nullable=True),
        sa.Column("location_uri", sa.String(length=300), nullable=True),
        sa.Column("origin_field_id", sa.String(length=60), nullable=True),
        sa.Column("harvested_at", sa.String(length=32), nullable=True),
        sa.Column("sold_at", sa.String(length=32), nullable=True),
        sa.Column("inspection", sa.String(length=20), nullable=False),
        sa.Column("recalled", sa.Boolean(), nullable=False),
        sa.Column("phi_flag", sa.Boolean(), nullable=False),
        sa.Column("phi_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["custodian_id"],
            ["organisations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["gtin"],
            ["products.gtin"],
        ),
        sa.ForeignKeyConstraint(
            ["in_transit_to_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gtin", "lot", name="uq_lots_gtin_lot"),
    )
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lots_lot"), ["lot"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_lots_origin_field_id"), ["origin_field_id"], unique=False
        )

    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("product_name", sa.String(length=200), nullable=False),
        sa.Column("quantity_kg", sa.Float(), nullable=True),
        sa.Column("origin", sa.String(length=300), nullable=False),
        sa.Column("issued_on", sa.String(length=10), nullable=False),
        sa.Column("committing_entity", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=100), nullable=True),
        sa.Column("basis", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("supersedes", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["lots.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificates_lot_id"), ["lot_id"], unique=False)

    op.create_table(
        "event_lots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["events.seq"],
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["lots.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lot_id", "position", name="uq_event_lots_position"),
    )
    with op.batch_alter_table("event_lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_lots_event_seq"), ["event_seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_lots_lot_id"), ["lot_id"], unique=False)

    op.create_table(
        "log_leaves",
        sa.Column("index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["events.seq"],
        ),
        sa.PrimaryKeyConstraint("index"),
        sa.UniqueConstraint("event_seq"),
    )
    op.create_table(
        "lot_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_lot_id", sa.Integer(), nullable=False),
        sa.Column("child_lot_id", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_lot_id"],
            ["lots.id"],
        ),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["events.seq"],
        ),
        sa.ForeignKeyConstraint(
            ["parent_lot_id"],
            ["lots.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lot_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lot_links_child_lot_id"), ["child_lot_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lot_links_parent_lot_id"), ["parent_lot_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lot_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lot_links_parent_lot_id"))
        batch_op.drop_index(batch_op.f("ix_lot_links_child_lot_id"))

    op.drop_table("lot_links")
    op.drop_table("log_leaves")
    with op.batch_alter_table("event_lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_lots_lot_id"))
        batch_op.drop_index(batch_op.f("ix_event_lots_event_seq"))

    op.drop_table("event_lots")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_lot_id"))

    op.drop_table("certificates")
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lots_origin_field_id"))
        batch_op.drop_index(batch_op.f("ix_lots_lot"))

    op.drop_table("lots")
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_locations_field_id"))

    op.drop_table("locations")
    op.drop_table("events")
    op.drop_table("api_keys")
    op.drop_table("products")
    op.drop_table("organisations")
    op.drop_table("meta")
    op.drop_table("checkpoints")
