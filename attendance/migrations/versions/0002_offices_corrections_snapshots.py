"""Multi-office staff, corrections, punch snapshot reference, template upload state.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "employee_offices",
        sa.Column(
            "nip",
            sa.String(18),
            sa.ForeignKey("employees.nip", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("opd_code", sa.String(32), primary_key=True),
    )
    op.create_index("ix_employee_offices_opd_code", "employee_offices", ["opd_code"])

    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "punch_id",
            sa.String(36),
            sa.ForeignKey("punches.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_corrections_punch_id", "corrections", ["punch_id"])

    # A plain ADD COLUMN (nullable): no table copy, instant even with a million punches.
    op.add_column("punches", sa.Column("snapshot", sa.String(120), nullable=True))
    op.add_column("face_templates", sa.Column("uploaded_at", sa.String(32), nullable=True))
    # Templates that existed before were either from the server or already known to it.
    op.execute("UPDATE face_templates SET uploaded_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("face_templates") as batch:
        batch.drop_column("uploaded_at")
    with op.batch_alter_table("punches") as batch:
        batch.drop_column("snapshot")
    op.drop_table("corrections")
    op.drop_table("employee_offices")
