"""The rollup's insert trigger on PostgreSQL skips the statements of a transaction that counts its own rows

Revision ID: 62e9033b669d
Revises: 6e3d0f1c2b7a
Create Date: 2026-11-30 19:45:00.000000

"""
from alembic import op

from server import rollup


# revision identifiers, used by Alembic.
revision = '62e9033b669d'
down_revision = '6e3d0f1c2b7a'
branch_labels = None
depends_on = None


def upgrade():
    # hymy import on PostgreSQL counts its rows into the rollup once, at its end (rollup.Tally),
    # instead of the trigger counting each batch. Nothing to do on SQLite, where it drops the
    # trigger in its own transaction.
    rollup.replace_functions(op.get_bind())


def downgrade():
    # The check only answers a setting that only a newer import makes: the functions are left as they are.
    pass
