"""scenario sharing and temporary passwords: a scenario shown to the partners, a password's expiry

Revision ID: 0014_scenario_sharing
Revises: 0013_mail_claims
Create Date: 2026-12-03 18:00:00

A budget scenario is internal until the direction shares it with the partners (CAF, Département,
associations taking part in the shared diagnostic): ``scenarios.shared_with_partners``, changed
through the ORM and so journaled. A temporary password issued by an administrator must be changed
at the next sign-in and expires: ``users.password_expires_at`` is set while it is temporary.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_scenario_sharing"
down_revision: str | None = "0013_mail_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scenarios", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shared_with_partners", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("password_expires_at")
    with op.batch_alter_table("scenarios", schema=None) as batch_op:
        batch_op.drop_column("shared_with_partners")
