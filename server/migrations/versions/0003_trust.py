"""Trust boundaries: per-OPD feed scope, extra assignments, audit log, sealed templates.

Revision ID: 0003_trust
Revises: 0001
Create Date: 2026-12-06

Existing feed rows get their person (``nip``) and lose the template vector
(the feed now reads it from the encrypted ``templates`` table when it is
served). Plaintext template rows keep ``sealed_with`` NULL; the server seals
them with its template key at the next start (the migration has no key).
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0003_trust"
down_revision = "0002_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosk_assignments",
        sa.Column("nip", sa.String(length=18), nullable=False),
        sa.Column("opd_code", sa.String(length=32), nullable=False),
        sa.Column("created_utc", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nip", "opd_code"),
    )
    with op.batch_alter_table("kiosk_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_kiosk_assignments_opd", ["opd_code"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at_utc", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["at_utc"], unique=False)
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_with", sa.String(length=16), nullable=True))
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nip", sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column("audience", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_changes_nip", ["nip"], unique=False)

    conn = op.get_bind()
    changes = sa.table(
        "changes",
        sa.column("seq", sa.BigInteger()),
        sa.column("kind", sa.String()),
        sa.column("key", sa.String()),
        sa.column("data", sa.Text()),
        sa.column("nip", sa.String()),
    )
    conn.execute(
        changes.update().where(changes.c.kind == "employee").values(nip=changes.c.key)
    )
    rows = conn.execute(
        sa.select(changes.c.seq, changes.c.data).where(changes.c.kind == "template")
    ).all()
    for seq, data in rows:
        doc = json.loads(data) if data else {}
        nip = doc.get("nip")
        doc.pop("template", None)
        conn.execute(
            changes.update()
            .where(changes.c.seq == seq)
            .values(nip=nip if isinstance(nip, str) else None, data=json.dumps(doc))
        )


def downgrade() -> None:
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_index("ix_changes_nip")
        batch_op.drop_column("audience")
        batch_op.drop_column("nip")
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_column("sealed_with")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_at")
    op.drop_table("audit_log")
    with op.batch_alter_table("kiosk_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_kiosk_assignments_opd")
    op.drop_table("kiosk_assignments")
