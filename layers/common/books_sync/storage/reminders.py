"""SQL for `reminders`: the schedule is applied as a set, one statement per change kind.

Reminders hold no phone: the sender joins to the customer at send time, so a phone change
reaches every pending reminder at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from books_sync.db import Database, to_json


@dataclass(frozen=True)
class DueInvoice:
    invoice_id: str
    due_date: date | None
    timezone: str | None


@dataclass(frozen=True)
class Candidates:
    with_phone: list[DueInvoice]
    without_phone: int


def candidates(db: Database, user_id: str) -> Candidates:
    """Open invoices of live customers; those whose customer has no effective phone are only counted."""
    rows = db.run(
        """
        SELECT i.id::text, i.due_date, c.timezone,
               coalesce(c.phone_override, c.primary_phone) IS NOT NULL AS has_phone
          FROM invoices_cache AS i
          JOIN customers_cache AS c ON c.id = i.customer_id
         WHERE i.user_id = :user_id AND c.deleted_at IS NULL
           -- open: money owed on a sent invoice that Zoho still has
           AND i.deleted_at IS NULL AND i.balance > 0 AND coalesce(i.status, '') NOT IN ('draft', 'void', 'paid')
        """,
        user_id=user_id,
    )
    with_phone = [DueInvoice(row[0], row[1], row[2]) for row in rows if row[3]]
    return Candidates(with_phone, sum(1 for row in rows if not row[3]))


@dataclass(frozen=True)
class Applied:
    created: int = 0
    rescheduled: int = 0
    reactivated: int = 0
    cancelled_past: int = 0


_APPLY = """
WITH wanted AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
           AS w(invoice_id uuid, offset_days integer, scheduled_for timestamptz, past boolean)
), current AS (
    SELECT w.*, r.id AS reminder_id, r.status, r.scheduled_for AS current_for
      FROM wanted AS w
      LEFT JOIN reminders AS r ON r.invoice_id = w.invoice_id AND r.offset_days = w.offset_days
), created AS (
    INSERT INTO reminders (user_id, invoice_id, offset_days, scheduled_for)
    SELECT :user_id, invoice_id, offset_days, scheduled_for FROM current WHERE reminder_id IS NULL AND NOT past
    ON CONFLICT (invoice_id, offset_days) DO NOTHING
 RETURNING 1
), changed AS (
    UPDATE reminders AS r
       SET scheduled_for = CASE WHEN c.past THEN r.scheduled_for ELSE c.scheduled_for END,
           status = CASE WHEN c.past THEN 'cancelled' ELSE 'pending' END,
           cancel_reason = CASE WHEN c.past THEN 'due date moved; the new time has passed' END,
           updated_at = now()
      FROM current AS c
     WHERE r.id = c.reminder_id
       AND ((c.status = 'pending' AND c.current_for <> c.scheduled_for)
            OR (c.status = 'cancelled' AND NOT c.past))
 RETURNING c.status AS was, c.past
)
SELECT (SELECT count(*) FROM created),
       (SELECT count(*) FROM changed WHERE was = 'pending' AND NOT past),
       (SELECT count(*) FROM changed WHERE was = 'cancelled'),
       (SELECT count(*) FROM changed WHERE was = 'pending' AND past)
"""


def apply(db: Database, user_id: str, planned: Sequence[dict[str, Any]]) -> Applied:
    """Create missing reminders, move pending ones to their new time, bring back cancelled ones
    that are due again; sent reminders are history and never change."""
    if not planned:
        return Applied()
    row = db.run(_APPLY, user_id=user_id, rows=to_json(list(planned)))[0]
    return Applied(*(int(value) for value in row))


_CANCEL = """
WITH wanted AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS w(invoice_id uuid, offset_days integer)
)
UPDATE reminders AS r
   SET status = 'cancelled',
       updated_at = now(),
       cancel_reason = CASE
           WHEN i.deleted_at IS NOT NULL THEN 'invoice deleted in Zoho'
           WHEN i.status = 'void' THEN 'invoice voided'
           WHEN i.status = 'paid' OR coalesce(i.balance, 0) <= 0 THEN 'invoice paid'
           WHEN i.status = 'draft' THEN 'invoice is a draft again'
           WHEN c.deleted_at IS NOT NULL THEN 'customer deleted in Zoho'
           WHEN coalesce(c.phone_override, c.primary_phone) IS NULL THEN 'customer has no phone'
           WHEN i.due_date IS NULL THEN 'invoice has no due date'
           ELSE 'offset no longer configured'
       END
  FROM invoices_cache AS i
  JOIN customers_cache AS c ON c.id = i.customer_id
 WHERE r.user_id = :user_id AND r.status = 'pending' AND i.id = r.invoice_id
   AND NOT EXISTS (SELECT 1 FROM wanted AS w WHERE w.invoice_id = r.invoice_id AND w.offset_days = r.offset_days)
RETURNING r.cancel_reason
"""


def cancel_unwanted(db: Database, user_id: str, wanted: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Cancel pending reminders that are no longer wanted; counts per reason."""
    rows = db.run(_CANCEL, user_id=user_id, rows=to_json(list(wanted)))
    reasons: dict[str, int] = {}
    for (reason,) in rows:
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def pending_count(db: Database, user_id: str) -> int:
    return int(
        db.scalar("SELECT count(*) FROM reminders WHERE user_id = :user_id AND status = 'pending'", user_id=user_id)
    )
