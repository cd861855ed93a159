"""Web console: accounts, sessions and the console audit log.

Revision ID: 0005_console
Revises: 0002_ledger
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = '0005_console'
down_revision = '0004_adms'
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('console_users',
    sa.Column('id', _PK, autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('opd_code', sa.String(length=32), nullable=True),
    sa.Column('nip', sa.String(length=18), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until_utc', sa.DateTime(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_utc', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('console_users', schema=None) as batch_op:
        batch_op.create_index('ix_console_users_username', ['username'], unique=True)

    op.create_table('console_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_utc', sa.DateTime(), nullable=False),
    sa.Column('last_seen_utc', sa.DateTime(), nullable=False),
    sa.Column('expires_utc', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_console_sessions_user', ['user_id'], unique=False)

    op.create_table('console_audit',
    sa.Column('id', _PK, autoincrement=True, nullable=False),
    sa.Column('utc', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('console_audit', schema=None) as batch_op:
        batch_op.create_index('ix_console_audit_utc', ['utc'], unique=False)

    # The dashboard: today's ledger rows of every OPD.
    with op.batch_alter_table('ledger_days', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_days_work_date', ['work_date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ledger_days', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_days_work_date')
    op.drop_table('console_audit')
    op.drop_table('console_sessions')
    op.drop_table('console_users')
