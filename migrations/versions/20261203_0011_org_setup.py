"""organisation set-up: territory codes of every kind, one organisation per kind and code, server administrators

Revision ID: 0011_org_setup
Revises: 0009_effective_dates
Create Date: 2026-12-03 12:00:00

An organisation's ``insee_code`` is the code of its territory: a commune's INSEE code (5
characters) for a CCAS or a commune, an EPCI's SIREN (9 digits) for a CIAS or an EPCI, a
département's code (2 or 3 characters) for a département; one organisation per kind and code.
A user may be a server administrator (``is_superadmin``), who creates organisations and may
belong to none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_org_setup"
down_revision: str | None = "0009_effective_dates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE_BY_KIND = (
    "insee_code IS NULL OR (kind IN ('ccas', 'commune') AND length(insee_code) = 5) "
    "OR (kind IN ('cias', 'epci') AND length(insee_code) = 9) "
    "OR (kind = 'departement' AND length(insee_code) IN (2, 3))"
)
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_organisations_insee_code_length"), type_="check")
        batch_op.alter_column(
            "insee_code", existing_type=sa.String(length=5), type_=sa.String(length=9), existing_nullable=True
        )
        batch_op.create_check_constraint("insee_code_length", CODE_BY_KIND)
        batch_op.create_unique_constraint(op.f("uq_organisations_kind_insee_code"), ["kind", "insee_code"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_superadmin", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.alter_column("organisation_id", existing_type=ID_TYPE, nullable=True)
        batch_op.create_check_constraint(
            "organisation_or_superadmin", "organisation_id IS NOT NULL OR is_superadmin"
        )


def downgrade() -> None:
    # server administrators of no organisation cannot exist in the older schema
    op.execute("DELETE FROM users WHERE organisation_id IS NULL")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_users_organisation_or_superadmin"), type_="check")
        batch_op.alter_column("organisation_id", existing_type=ID_TYPE, nullable=False)
        batch_op.drop_column("is_superadmin")
    op.execute(
        "DELETE FROM organisations WHERE insee_code IS NOT NULL AND length(insee_code) <> 5"
    )
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_organisations_kind_insee_code"), type_="unique")
        batch_op.drop_constraint(op.f("ck_organisations_insee_code_length"), type_="check")
        batch_op.alter_column(
            "insee_code", existing_type=sa.String(length=9), type_=sa.String(length=5), existing_nullable=True
        )
        batch_op.create_check_constraint("insee_code_length", "insee_code IS NULL OR length(insee_code) = 5")
