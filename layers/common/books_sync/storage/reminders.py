"""SQL for `reminders`: the schedule is applied as a set, one statement per change kind.

Reminders hold no phone: the sender joins to the customer at send time, so a phone change
reaches every pending reminder at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from books_sync.db import Database, to_json
from books_sync.storage.lookups import TENANT


class CancelReason(StrEnum):
    """Why a pending reminder was cancelled: stored in `reminders.cancel_reason`, counted in summaries."""

    INVOICE_DELETED = "invoice deleted in Zoho"
    INVOICE_VOIDED = "invoice voided"
    INVOICE_PAID = "invoice paid"
    INVOICE_DRAFT = "invoice is a draft again"
    CUSTOMER_DELETED = "customer deleted in Zoho"
    REMINDERS_OFF = "customer turned payment reminders off in Zoho"
    NO_PHONE = "customer has no phone"
    NO_DUE_DATE = "invoice has no due date"
    OFFSET_REMOVED = "offset no longer configured"
    MOVED_INTO_PAST = "due date moved; the new time has passed"

    @classmethod
    def parameters(cls) -> dict[str, str]:
        """Each reason as a bound parameter (`:invoice_deleted`...) for the SQL that writes it."""
        return {reason.name.lower(): reason.value for reason in cls}


@dataclass(frozen=True)
class Wanted:
    """One reminder the schedule wants: the invoice (our id), its offset, when, and whether that has passed."""

    invoice_id: str
    offset_days: int
    scheduled_for: datetime
    past: bool

    def as_row(self) -> dict[str, object]:
        return {
            "invoice_id": self.invoice_id,
            "offset_days": self.offset_days,
            "scheduled_for": self.scheduled_for.isoformat(),
            "past": self.past,
        }


@dataclass(frozen=True)
class DueInvoice:
    """An open invoice of a reminder-ready customer: what its schedule is planned from."""

    invoice_id: str
    due_date: date | None
    payment_expected_date: date | None
    timezone: str | None


@dataclass(frozen=True)
class Candidates:
    ready: list[DueInvoice]
    without_phone: int  # open invoices whose customer (detail known) has no phone to use
    reminders_off: int  # open invoices whose customer turned payment reminders off in Zoho
    waiting_for_detail: int  # open invoices whose customer's detail is not read yet (or changed since)
    invoice_ids: list[str] = field(default_factory=list)  # every open invoice of the chunk, ready or not

    @property
    def last(self) -> str | None:
        return self.invoice_ids[-1] if self.invoice_ids else None


CHUNK = 5_000  # open invoices planned at a time: memory stays flat whatever the tenant's size


def candidates(db: Database, user_id: str, *, after: str | None = None, limit: int | None = None) -> Candidates:
    """Open invoices of live customers, by our id after `after`, at most `limit` (`CHUNK`); reminders are
    planned only where the customer is reminder-ready. A range of one index, and one key lookup per
    invoice for its customer: a chunk reads in proportion to the chunk, whatever the statistics say."""
    rows = db.rows(
        f"""
        SELECT i.id::text AS invoice_id, i.due_date, i.payment_expected_date, c.timezone, c.reminder_ready,
               c.detail_hash IS NOT NULL AND c.detail_hash = c.sync_hash AS detail_current,
               c.payment_reminder_enabled IS FALSE AS reminders_off
          FROM open_invoices AS i
         CROSS JOIN LATERAL (SELECT * FROM customers_cache WHERE id = i.customer_id OFFSET 0) AS c
         WHERE i.user_id = {TENANT} AND c.deleted_at IS NULL
           AND i.id > CAST(:after AS uuid)
         ORDER BY i.id
         LIMIT :limit
        """,  # noqa: S608  # nosec B608 - constants
        user_id=user_id,
        after=after or "00000000-0000-0000-0000-000000000000",
        limit=limit or CHUNK,
    )
    ready = [
        DueInvoice(row["invoice_id"], row["due_date"], row["payment_expected_date"], row["timezone"])
        for row in rows
        if row["reminder_ready"]
    ]
    waiting = sum(1 for row in rows if not row["detail_current"])
    off = sum(1 for row in rows if row["detail_current"] and row["reminders_off"])
    ids = [row["invoice_id"] for row in rows]
    return Candidates(ready, len(rows) - len(ready) - waiting - off, off, waiting, ids)


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
           cancel_reason = CASE WHEN c.past THEN CAST(:moved_into_past AS text) END,
           updated_at = now()
      FROM current AS c
     WHERE r.id = c.reminder_id
       AND r.status = c.status  -- as read, once its lock is had: a reminder a sender completed meanwhile stays sent
       AND ((c.status = 'pending' AND c.current_for <> c.scheduled_for)
            OR (c.status = 'cancelled' AND NOT c.past)
            -- given up unconfirmed: back only when its time moved to one still ahead
            OR (c.status = 'missed' AND NOT c.past AND c.current_for <> c.scheduled_for))
 RETURNING c.status AS was, c.past
)
SELECT (SELECT count(*) FROM created),
       (SELECT count(*) FROM changed WHERE was = 'pending' AND NOT past),
       (SELECT count(*) FROM changed WHERE was IN ('cancelled', 'missed')),
       (SELECT count(*) FROM changed WHERE was = 'pending' AND past)
"""


def apply(db: Database, user_id: str, planned: Sequence[Wanted]) -> Applied:
    """Create missing reminders, move pending ones to their new time, bring back cancelled ones
    that are due again (and missed ones whose time moved ahead); sent reminders are history."""
    if not planned:
        return Applied()
    rows = to_json([wanted.as_row() for wanted in planned])
    row = db.run(_APPLY, user_id=user_id, rows=rows, moved_into_past=CancelReason.MOVED_INTO_PAST.value)[0]
    return Applied(*(int(value) for value in row))


_CANCEL = """
WITH wanted AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS w(invoice_id uuid, offset_days integer)
), pending AS MATERIALIZED (  -- each pending reminder with its invoice and customer, found first
    {pending}
), reasons AS MATERIALIZED (
    SELECT p.id,
           CASE
               WHEN p.invoice_deleted_at IS NOT NULL THEN CAST(:invoice_deleted AS text)
               WHEN p.status = 'void' THEN CAST(:invoice_voided AS text)
               WHEN p.status = 'paid' OR coalesce(p.balance, 0) <= 0 THEN CAST(:invoice_paid AS text)
               WHEN p.status = 'draft' THEN CAST(:invoice_draft AS text)
               WHEN p.customer_deleted_at IS NOT NULL THEN CAST(:customer_deleted AS text)
               WHEN p.payment_reminder_enabled IS FALSE THEN CAST(:reminders_off AS text)
               WHEN coalesce(p.phone_override, p.primary_phone) IS NULL THEN CAST(:no_phone AS text)
               -- the customer's detail is being read again: keep the reminder (the sender waits for it)
               WHEN NOT p.reminder_ready THEN NULL
               WHEN coalesce(CASE WHEN CAST(:basis AS text) = 'expected_payment_date'
                                  THEN p.payment_expected_date END, p.due_date) IS NULL
                   THEN CAST(:no_due_date AS text)
               ELSE CAST(:offset_removed AS text)
           END AS reason
      FROM pending AS p
     WHERE NOT EXISTS (SELECT 1 FROM wanted AS w WHERE w.invoice_id = p.invoice_id AND w.offset_days = p.offset_days)
)
UPDATE reminders AS r
   SET status = 'cancelled', cancel_reason = x.reason, claim_id = NULL, claimed_until = NULL, updated_at = now()
  FROM reasons AS x
 WHERE r.id = ANY(ARRAY(SELECT id FROM reasons WHERE reason IS NOT NULL))  -- key lookups, whatever the estimate
   AND r.id = x.id AND x.reason IS NOT NULL
   -- still pending when its lock is had: a reminder a sender completed meanwhile stays as it was (written
   -- so that no partial index of pending reminders matches: the planner would read all of its entries)
   AND coalesce(r.status, '') = 'pending'
RETURNING r.cancel_reason
"""
_PENDING = (
    "SELECT r.id, r.invoice_id, r.offset_days, i.deleted_at AS invoice_deleted_at, i.status, i.balance, "
    "i.payment_expected_date, i.due_date, c.deleted_at AS customer_deleted_at, c.payment_reminder_enabled, "
    "c.phone_override, c.primary_phone, c.reminder_ready FROM "
)
# A chunk's pending reminders, each found by key lookups (its invoice's reminders, the invoice, its
# customer): a chunk reads in proportion to the chunk. A filter over the tenant's pending reminders, or
# a join the planner may answer by reading whole tables, read the tenant for every chunk.
_CANCEL_IN_CHUNK = _CANCEL.format(
    pending=_PENDING  # noqa: S608  # nosec B608 - constants
    + """unnest(CAST(:invoice_ids AS uuid[])) AS chunk(invoice_id)
     CROSS JOIN LATERAL (SELECT * FROM reminders WHERE invoice_id = chunk.invoice_id OFFSET 0) AS r
     CROSS JOIN LATERAL (SELECT * FROM invoices_cache WHERE id = r.invoice_id OFFSET 0) AS i
     CROSS JOIN LATERAL (SELECT * FROM customers_cache WHERE id = i.customer_id OFFSET 0) AS c
     WHERE r.status = 'pending' AND r.user_id = :user_id"""
)
# Every pending reminder whose invoice is no open invoice of a live customer (once a plan).
_CANCEL_NOT_OPEN = _CANCEL.format(
    pending=_PENDING  # noqa: S608  # nosec B608 - constants
    + """reminders AS r
      JOIN invoices_cache AS i ON i.id = r.invoice_id
      JOIN customers_cache AS c ON c.id = i.customer_id
     WHERE r.user_id = :user_id AND r.status = 'pending'
       AND NOT EXISTS (SELECT 1 FROM open_invoices AS o JOIN customers_cache AS oc ON oc.id = o.customer_id
                        WHERE o.id = r.invoice_id AND oc.deleted_at IS NULL)"""
)


def cancel_unwanted(
    db: Database, user_id: str, wanted: Sequence[Wanted], basis: str, invoice_ids: Sequence[str] | None
) -> dict[str, int]:
    """Cancel pending (or claimed) reminders that are no longer wanted, with the reason; counts per reason.
    `invoice_ids`: a chunk of open invoices, `wanted` their planned reminders; None: the reminders of every
    invoice that is no longer open (or whose customer is gone)."""
    chunk = {"invoice_ids": list(invoice_ids)} if invoice_ids is not None else {}
    rows = db.run(
        _CANCEL_IN_CHUNK if invoice_ids is not None else _CANCEL_NOT_OPEN,
        user_id=user_id,
        rows=to_json([w.as_row() for w in wanted]),
        basis=basis,
        **chunk,
        **CancelReason.parameters(),
    )
    reasons: dict[str, int] = {}
    for (reason,) in rows:
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def pending_count(db: Database, user_id: str) -> int:
    return int(
        db.scalar("SELECT count(*) FROM reminders WHERE user_id = :user_id AND status = 'pending'", user_id=user_id)
    )


# ------------------------------------------------------------------------------ confirmed at hand-out
# The rule itself is in the database (migration 0015: `reminder_states`, `due_reminders`,
# `reminder_waits`); these statements find what needs confirming and end what never was.

_GIVE_UP = """
UPDATE reminders AS r
   SET status = 'missed', cancel_reason = left(CAST(:prefix AS text) || w.waiting_reason, 300),
       claim_id = NULL, claimed_until = NULL, updated_at = now()
  FROM reminder_waits AS w
 WHERE r.id = w.reminder_id AND w.give_up_at < now()
   AND r.status = 'pending' AND (r.claimed_until IS NULL OR r.claimed_until < now())
   AND (CAST(:user_id AS text) IS NULL OR r.user_id = :user_id)
RETURNING w.waiting_reason
"""
MISSED_PREFIX = "not confirmed by Zoho within the grace: "


def give_up_unconfirmed(db: Database, user_id: str | None = None) -> dict[str, int]:
    """Reminders that waited past their tenant's grace without a confirmation end `missed`, with why
    (`cancel_reason`); never sent on stale data, never dropped silently. Counts per reason."""
    reasons: dict[str, int] = {}
    for (reason,) in db.run(_GIVE_UP, user_id=user_id, prefix=MISSED_PREFIX):
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


_TO_CONFIRM = """
SELECT zoho_invoice_id
  FROM reminder_states
 WHERE user_id = :user_id AND ready AND give_up_at >= now()
   AND wanted_at < now() + CAST(:within AS interval)
   AND (invoice_seen_at IS NULL OR invoice_seen_at < :seen_before)
 GROUP BY zoho_invoice_id
 ORDER BY min(wanted_at), zoho_invoice_id
 LIMIT :limit
"""


def invoices_to_confirm(
    db: Database, user_id: str, *, within: timedelta, seen_before: datetime, limit: int
) -> list[str]:
    """Open invoices with a reminder wanted within `within` that Zoho has not shown since `seen_before`
    (a deletion shows in no list: these are read by id, most urgent first)."""
    rows = db.run(_TO_CONFIRM, user_id=user_id, within=within, seen_before=seen_before, limit=limit)
    return [row[0] for row in rows]


_TO_FRESHEN = """
SELECT user_id
  FROM reminder_states
 WHERE ready AND tenant_status = 'active' AND give_up_at >= now()
   AND wanted_at < now() + CAST(:lookahead AS interval)
   -- its confirmation would be stale before the next freshen comes round
   AND coalesce(confirmed_at, '-infinity') < greatest(wanted_at, now()) + CAST(:lookahead AS interval) - freshness
   AND (CAST(:user_ids AS text[]) IS NULL OR user_id = ANY(CAST(:user_ids AS text[])))
 GROUP BY user_id
 ORDER BY min(wanted_at), user_id
"""


def tenants_to_freshen(db: Database, *, lookahead: timedelta, user_ids: Sequence[str] | None = None) -> list[str]:
    """Active tenants with a reminder wanted before the next freshen whose confirmation would be too old
    by then; most urgent first."""
    rows = db.run(_TO_FRESHEN, lookahead=lookahead, user_ids=list(user_ids) if user_ids is not None else None)
    return [row[0] for row in rows]
