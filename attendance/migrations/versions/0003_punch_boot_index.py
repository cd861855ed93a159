"""Index punches by boot and monotonic time (clock corrections after a jump or a sync).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_punches_boot_mono", "punches", ["boot_id", "monotonic_ns"])


def downgrade() -> None:
    op.drop_index("ix_punches_boot_mono", table_name="punches")
