"""segments stored as SQL NULL, not JSON null

Revision ID: 37530a202f4d
Revises: 4c1288782e2d
Create Date: 2026-11-29 22:09:17.532325

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '37530a202f4d'
down_revision = '4c1288782e2d'
branch_labels = None
depends_on = None


def upgrade():
    # Answers without a segment were stored as the JSON text 'null'; make them SQL NULL.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE response SET segment = NULL WHERE segment::text = 'null'")
    else:
        op.execute("UPDATE response SET segment = NULL WHERE segment = 'null'")


def downgrade():
    # SQL NULL reads back as None just as JSON null did: nothing to undo.
    pass
