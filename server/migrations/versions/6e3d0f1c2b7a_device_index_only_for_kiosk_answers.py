"""The index of a kiosk's answers holds only answers with a device

Revision ID: 6e3d0f1c2b7a
Revises: 5b1e7c2d9a40
Create Date: 2026-11-30 17:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6e3d0f1c2b7a'
down_revision = '5b1e7c2d9a40'
branch_labels = None
depends_on = None

WHERE = "device_id IS NOT NULL"


def upgrade():
    # Phone, staff and imported answers have no device: their entries were never read, only written.
    op.drop_index('ix_response_device_answered', table_name='response')
    op.create_index('ix_response_device_answered', 'response', ['device_id', 'answered_at'], unique=False,
                    sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade():
    op.drop_index('ix_response_device_answered', table_name='response')
    op.create_index('ix_response_device_answered', 'response', ['device_id', 'answered_at'], unique=False)
