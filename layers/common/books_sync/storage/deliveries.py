"""The sender's contract over `reminders`: see what is due, claim it under a lease, complete it.

Sending is outside this system. A sender claims up to N due reminders (`FOR UPDATE SKIP LOCKED`:
two senders never get the same one); a claim not completed before its lease ends is due again.
It completes each as sent, or failed (retried with backoff up to the tenant's attempts, then
`failed`). A lease can expire after a send and before its completion, so the same reminder can be
handed out twice: the reminder id is the idempotency key a sender passes to its provider. The
sync never changes a sent reminder; a claimed one whose reason to exist went away (paid, void,
deleted, opt-out, phone lost) is cancelled, and its completion then answers `cancelled`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from books_sync.db import Database

Outcome = Literal["sent", "failed"]
Completion = Literal["sent", "retry", "failed", "cancelled", "not claimed"]


@dataclass(frozen=True)
class Delivery:
    """One reminder as a sender needs it (a row of the `reminder_deliveries` view)."""

    reminder_id: str
    user_id: str
    offset_days: int
    send_at_utc: datetime
    send_at_local: datetime
    timezone: str
    attempts: int
    zoho_invoice_id: str
    invoice_number: str | None
    balance: Decimal | None
    currency_code: str | None
    due_date: date | None
    zoho_customer_id: str
    customer_name: str | None
    phone: str
    phone_is_override: bool
    sms_enabled: bool | None
    whatsapp_enabled: bool | None
    claim_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in vars(self).items():
            out[key] = value.isoformat() if isinstance(value, datetime | date) else value
        out["balance"] = str(self.balance) if self.balance is not None else None
        return out


_COLUMNS = """reminder_id::text, user_id, offset_days, send_at_utc, send_at_local, timezone, attempts, zoho_invoice_id,
       invoice_number, balance, currency_code, due_date, zoho_customer_id, customer_name, phone, phone_is_override,
       sms_enabled, whatsapp_enabled"""


def upcoming(db: Database, *, user_id: str | None, before: datetime | None, limit: int = 1000) -> list[Delivery]:
    """Reminders a sender will be given, due now (`before` None) or due before a time; any tenant or one."""
    view = "due_reminders" if before is None else "reminder_deliveries"
    rows = db.rows(
        f"SELECT {_COLUMNS} FROM {view} "  # noqa: S608  # nosec B608 - the view name is one of two constants
        "WHERE (CAST(:user_id AS text) IS NULL OR user_id = :user_id) "
        "AND (CAST(:before AS timestamptz) IS NULL OR send_at_utc < :before) "
        "ORDER BY send_at_utc, reminder_id LIMIT :limit",
        user_id=user_id,
        before=before,
        limit=limit,
    )
    return [Delivery(**row) for row in rows]


_CLAIM = """
WITH picked AS (
    SELECT r.id
      FROM reminders AS r
     WHERE r.id IN (SELECT d.reminder_id FROM due_reminders AS d
                     WHERE CAST(:user_id AS text) IS NULL OR d.user_id = :user_id)
       -- checked again on the locked row: a claim committed since this statement began is seen
       AND r.status = 'pending' AND (r.claimed_until IS NULL OR r.claimed_until < now())
     ORDER BY r.scheduled_for, r.id
     LIMIT :limit
       FOR UPDATE OF r SKIP LOCKED
)
UPDATE reminders AS r
   SET claim_id = gen_random_uuid(), claimed_until = now() + make_interval(secs => :lease_seconds), updated_at = now()
  FROM picked
 WHERE r.id = picked.id
RETURNING r.id::text, r.claim_id::text
"""


def claim(db: Database, *, user_id: str | None, limit: int, lease_seconds: float) -> list[Delivery]:
    """Take up to `limit` due reminders for `lease_seconds`; each comes with its `claim_id`."""
    with db.transaction():
        claimed = dict(db.run(_CLAIM, user_id=user_id, limit=limit, lease_seconds=lease_seconds))
        if not claimed:
            return []
        rows = db.rows(
            f"SELECT {_COLUMNS} FROM reminder_deliveries "  # noqa: S608  # nosec B608 - fixed column list
            "WHERE reminder_id = ANY(CAST(:ids AS uuid[])) ORDER BY send_at_utc, reminder_id",
            ids=list(claimed),
        )
    return [Delivery(**row, claim_id=claimed[row["reminder_id"]]) for row in rows]


_COMPLETE = """
UPDATE reminders AS r
   SET status = CASE WHEN :outcome = 'sent' THEN 'sent'
                     WHEN r.attempts + 1 >= m.reminder_max_attempts THEN 'failed'
                     ELSE 'pending' END,
       attempts = r.attempts + 1,
       sent_at = CASE WHEN :outcome = 'sent' THEN now() END,
       last_error = CAST(:error AS text),
       next_attempt_at = CASE WHEN :outcome = 'failed'
                              THEN now() + least(interval '10 minutes' * power(2, r.attempts), interval '6 hours') END,
       claim_id = NULL,
       claimed_until = NULL,
       updated_at = now()
  FROM sync_metadata AS m
 WHERE r.id = CAST(:reminder_id AS uuid) AND r.claim_id = CAST(:claim_id AS uuid) AND r.status = 'pending'
   AND m.user_id = r.user_id
RETURNING r.status
"""


def complete(
    db: Database, *, reminder_id: str, claim_id: str, outcome: Outcome, error: str | None = None
) -> Completion:
    """Report a claimed reminder sent or failed; a reminder the sync cancelled meanwhile answers `cancelled`."""
    with db.transaction():
        row = db.run(
            _COMPLETE, reminder_id=reminder_id, claim_id=claim_id, outcome=outcome, error=(error or "")[:500] or None
        )
        if row:
            status = row[0][0]
            return "sent" if status == "sent" else ("failed" if status == "failed" else "retry")
        current = db.scalar("SELECT status FROM reminders WHERE id = CAST(:id AS uuid)", id=reminder_id)
    return "cancelled" if current == "cancelled" else "not claimed"
