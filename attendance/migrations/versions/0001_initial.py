"""Initial kiosk store: employees, templates, punches, outbox, audit log, device state.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "employees",
        sa.Column("nip", sa.String(18), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("opd_code", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(200), nullable=False, server_default=""),
        sa.Column("employee_type", sa.String(20), nullable=False),
        sa.Column("schedule_group", sa.String(64), nullable=False, server_default="default"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("1")),
        sa.Column("pin_hash", sa.String(200), nullable=True),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.CheckConstraint(
            "length(nip) = 18 AND nip NOT GLOB '*[^0-9]*'", name="ck_employees_nip"
        ),
        sa.CheckConstraint(
            "employee_type IN ('PNS', 'PPPK', 'PPPK_PW')", name="ck_employees_type"
        ),
    )
    op.create_index("ix_employees_opd_code", "employees", ["opd_code"])

    op.create_table(
        "face_templates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "nip",
            sa.String(18),
            sa.ForeignKey("employees.nip", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(20), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.CheckConstraint("source IN ('kiosk', 'server')", name="ck_face_templates_source"),
    )
    op.create_index("ix_face_templates_nip", "face_templates", ["nip"])

    op.create_table(
        "punches",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("nip", sa.String(18), nullable=False),
        sa.Column("utc", sa.String(27), nullable=False),
        sa.Column("local_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("clock_state", sa.String(10), nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=False),
        sa.Column("monotonic_ns", sa.BigInteger(), nullable=False),
        sa.Column("verify_mode", sa.String(12), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("distance", sa.Float(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("liveness", sa.String(100), nullable=True),
        sa.Column("record_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.Column("work_date", sa.String(10), nullable=True),
        sa.Column("late_minutes", sa.Integer(), nullable=True),
        sa.Column("early_minutes", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(16), nullable=True),
        sa.CheckConstraint(
            "clock_state IN ('synced', 'unsynced', 'suspect')", name="ck_punches_clock_state"
        ),
        sa.CheckConstraint(
            "verify_mode IN ('face', 'fingerprint', 'pin')", name="ck_punches_verify_mode"
        ),
        sa.CheckConstraint("direction IN ('masuk', 'pulang')", name="ck_punches_direction"),
    )
    op.create_index("ux_punches_id", "punches", ["id"], unique=True)
    op.create_index("ux_punches_device_seq", "punches", ["device_id", "seq"], unique=True)
    op.create_index("ix_punches_nip_utc", "punches", ["nip", "utc"])
    op.create_index("ix_punches_utc", "punches", ["utc"])

    op.create_table(
        "outbox",
        sa.Column(
            "punch_pk",
            sa.Integer(),
            sa.ForeignKey("punches.pk", ondelete="RESTRICT"),
            primary_key=True,
        ),
        sa.Column("state", sa.String(12), nullable=False, server_default="ready"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("claimed_at", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('ready', 'claimed', 'delivered', 'quarantined')", name="ck_outbox_state"
        ),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["state", "punch_pk"],
        sqlite_where=sa.text("state IN ('ready', 'claimed')"),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("target", sa.String(100), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )

    op.create_table(
        "device_state",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in ("device_state", "audit_log", "outbox", "punches", "face_templates", "employees"):
        op.drop_table(table)
