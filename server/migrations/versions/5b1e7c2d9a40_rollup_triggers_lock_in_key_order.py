"""The rollup's triggers on PostgreSQL change the weekly counts in the keys' order, in one statement

Revision ID: 5b1e7c2d9a40
Revises: 8250b54b5b52
Create Date: 2026-11-30 15:00:00.000000

"""
from alembic import op

from server import rollup


# revision identifiers, used by Alembic.
revision = '5b1e7c2d9a40'
down_revision = '8250b54b5b52'
branch_labels = None
depends_on = None


def upgrade():
    # Two staff corrections crossing between two scores could deadlock: each counted its old
    # week and key down, then its new one up. Nothing to do on SQLite, which has one writer.
    rollup.replace_functions(op.get_bind())


def downgrade():
    # The counts come out the same either way: the functions are left as they are.
    pass
