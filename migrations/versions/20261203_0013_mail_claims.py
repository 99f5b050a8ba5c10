"""mail claims: an e-mail is claimed ('sending') before it is sent, so that it leaves once

Revision ID: 0013_mail_claims
Revises: 0012_objective_links
Create Date: 2026-12-03 12:00:00

Several schedulers (or a scheduler and a job run from a page) deliver e-mails at the same time:
each one moves a row from 'pending' (or 'outbox') to 'sending' in a short transaction of its
own, and only the one that did sends it. ``email_claimed_at`` dates the claim: a claim whose
process died is given up ('failed', never sent twice) after half an hour.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_mail_claims"
down_revision: str | None = "0012_objective_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("none", "pending", "sent", "outbox", "failed")
STATUSES = ("none", "pending", "sending", "sent", "outbox", "failed")


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_notifications_email_status_known"), type_="check")
        batch_op.create_check_constraint("email_status_known", f"email_status IN ({_quoted(STATUSES)})")


def downgrade() -> None:
    # a mail being sent may have left: it is not sent again
    op.execute("UPDATE notifications SET email_status = 'failed' WHERE email_status = 'sending'")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_notifications_email_status_known"), type_="check")
        batch_op.create_check_constraint("email_status_known", f"email_status IN ({_quoted(OLD_STATUSES)})")
        batch_op.drop_column("email_claimed_at")
