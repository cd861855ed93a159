"""ADMS machines as they are: device trust, upload batches, held punches, lines for review.

Revision ID: 0004_adms
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_adms'
down_revision = '0003_trust'
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('adms_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('biometrics', sa.String(length=128), server_default='', nullable=False))

    op.create_table('adms_devices',
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('first_seen_utc', sa.DateTime(), nullable=False),
    sa.Column('last_seen_utc', sa.DateTime(), nullable=False),
    sa.Column('last_address', sa.String(length=64), nullable=False),
    sa.Column('allowed_network', sa.String(length=64), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('push_version', sa.String(length=16), nullable=True),
    sa.Column('info', sa.Text(), nullable=True),
    sa.Column('approved_utc', sa.DateTime(), nullable=True),
    sa.Column('refused_address', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('serial')
    )
    op.create_table('adms_batches',
    sa.Column('id', BigIntPK, autoincrement=True, nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('origin', sa.String(length=8), nullable=False),
    sa.Column('table_name', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('received_utc', sa.DateTime(), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('punches', sa.Integer(), nullable=False),
    sa.Column('unmatched', sa.Integer(), nullable=False),
    sa.Column('unparsed', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('adms_batches', schema=None) as batch_op:
        batch_op.create_index('ix_adms_batches_serial_received', ['serial', 'received_utc'], unique=False)
        batch_op.create_index('ix_adms_batches_status', ['status'], unique=False)

    op.create_table('adms_held',
    sa.Column('punch_id', sa.String(length=36), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('punch_id')
    )
    with op.batch_alter_table('adms_held', schema=None) as batch_op:
        batch_op.create_index('ix_adms_held_batch', ['batch_id'], unique=False)

    op.create_table('adms_review',
    sa.Column('id', BigIntPK, autoincrement=True, nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.Column('table_name', sa.String(length=32), nullable=False),
    sa.Column('line', sa.Text(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('received_utc', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('adms_review', schema=None) as batch_op:
        batch_op.create_index('ix_adms_review_serial', ['serial', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('adms_review', schema=None) as batch_op:
        batch_op.drop_index('ix_adms_review_serial')
    op.drop_table('adms_review')
    with op.batch_alter_table('adms_held', schema=None) as batch_op:
        batch_op.drop_index('ix_adms_held_batch')
    op.drop_table('adms_held')
    with op.batch_alter_table('adms_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_adms_batches_status')
        batch_op.drop_index('ix_adms_batches_serial_received')
    op.drop_table('adms_batches')
    op.drop_table('adms_devices')
    with op.batch_alter_table('adms_users', schema=None) as batch_op:
        batch_op.drop_column('biometrics')
