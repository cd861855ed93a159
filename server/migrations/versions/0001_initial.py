"""Initial schema of the central server.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('adms_commands',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('command', sa.String(length=1024), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('return_code', sa.String(length=32), nullable=True),
    sa.Column('created_utc', sa.DateTime(), nullable=False),
    sa.Column('sent_utc', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('adms_commands', schema=None) as batch_op:
        batch_op.create_index('ix_adms_commands_serial_status', ['serial', 'status'], unique=False)

    op.create_table('adms_unmatched',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('pin', sa.String(length=32), nullable=False),
    sa.Column('local_time', sa.String(length=19), nullable=False),
    sa.Column('line', sa.String(length=512), nullable=False),
    sa.Column('received_utc', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('adms_users',
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('pin', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('privilege', sa.String(length=16), nullable=False),
    sa.Column('updated_utc', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('serial', 'pin')
    )
    op.create_table('changes',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('op', sa.String(length=8), nullable=False),
    sa.Column('data', sa.Text(), nullable=True),
    sa.Column('created_utc', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('kind', 'key', name='uq_changes_kind_key'),
    sqlite_autoincrement=True
    )
    op.create_table('devices',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('opd_code', sa.String(length=32), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('registered_utc', sa.DateTime(), nullable=False),
    sa.Column('revoked_utc', sa.DateTime(), nullable=True),
    sa.Column('last_seen_utc', sa.DateTime(), nullable=True),
    sa.Column('health', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('device_id')
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index('ix_devices_token_hash', ['token_hash'], unique=True)

    op.create_table('employees',
    sa.Column('nip', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('opd_code', sa.String(length=32), nullable=False),
    sa.Column('employee_type', sa.String(length=20), nullable=False),
    sa.Column('schedule_group', sa.String(length=64), nullable=False),
    sa.Column('adms_pin', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_utc', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nip')
    )
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.create_index('ix_employees_adms_pin', ['adms_pin'], unique=False)

    op.create_table('enrollment_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('opd_code', sa.String(length=32), nullable=False),
    sa.Column('created_utc', sa.DateTime(), nullable=False),
    sa.Column('expires_utc', sa.DateTime(), nullable=False),
    sa.Column('used_utc', sa.DateTime(), nullable=True),
    sa.Column('used_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('code_hash')
    )
    op.create_table('punches',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('record_hash', sa.String(length=64), nullable=False),
    sa.Column('nip', sa.String(length=18), nullable=False),
    sa.Column('utc', sa.DateTime(), nullable=False),
    sa.Column('local_offset_minutes', sa.Integer(), nullable=False),
    sa.Column('clock_state', sa.String(length=16), nullable=False),
    sa.Column('verify_mode', sa.String(length=16), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('flags', sa.String(length=128), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=True),
    sa.Column('record', sa.Text(), nullable=False),
    sa.Column('received_utc', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('punches', schema=None) as batch_op:
        batch_op.create_index('ix_punches_device_seq', ['device_id', 'seq'], unique=False)
        batch_op.create_index('ix_punches_nip_utc', ['nip', 'utc'], unique=False)
        batch_op.create_index('ix_punches_utc', ['utc'], unique=False)

    op.create_table('templates',
    sa.Column('template_id', sa.String(length=36), nullable=False),
    sa.Column('nip', sa.String(length=18), nullable=False),
    sa.Column('model_name', sa.String(length=100), nullable=False),
    sa.Column('model_version', sa.String(length=32), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('source_device', sa.String(length=64), nullable=True),
    sa.Column('created_utc', sa.DateTime(), nullable=False),
    sa.Column('received_utc', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('template_id')
    )
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.create_index('ix_templates_nip', ['nip'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_index('ix_templates_nip')

    op.drop_table('templates')
    with op.batch_alter_table('punches', schema=None) as batch_op:
        batch_op.drop_index('ix_punches_utc')
        batch_op.drop_index('ix_punches_nip_utc')
        batch_op.drop_index('ix_punches_device_seq')

    op.drop_table('punches')
    op.drop_table('enrollment_codes')
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_index('ix_employees_adms_pin')

    op.drop_table('employees')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index('ix_devices_token_hash')

    op.drop_table('devices')
    op.drop_table('changes')
    op.drop_table('adms_users')
    op.drop_table('adms_unmatched')
    with op.batch_alter_table('adms_commands', schema=None) as batch_op:
        batch_op.drop_index('ix_adms_commands_serial_status')

    op.drop_table('adms_commands')
