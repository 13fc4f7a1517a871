"""The sender's contract over `reminders`: see what is due, claim it under a lease, complete it.

Sending is outside this system. A sender claims up to N due reminders (`FOR UPDATE SKIP LOCKED`:
two senders never get the same one); a claim not completed before its lease ends is due again.
It completes each as sent, or failed (retried with backoff up to the tenant's attempts, then
`failed`). A lease can expire after a send and before its completion, so the same reminder can be
handed out twice: the reminder id is the idempotency key a sender passes to its provider. The
sync never changes a sent reminder; a claimed one whose reason to exist went away (paid, void,
deleted, opt-out, phone lost) is cancelled, and its completion then answers `cancelled`.

The contract lives in the database, in the `reminder_sender` schema (migration 0011): two views
and two SECURITY DEFINER functions, so a sender's own role needs no privilege on any table
(deploy/roles.sql). This module is its Python client: one statement per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, cast

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
    view = "reminder_sender.due_reminders" if before is None else "reminder_sender.reminder_deliveries"
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


@dataclass(frozen=True)
class Waiting:
    """A reminder whose time has come but which is not handed out yet, and why (`waiting_reminders`)."""

    reminder_id: str
    user_id: str
    send_at_utc: datetime
    zoho_invoice_id: str
    invoice_number: str | None
    zoho_customer_id: str
    customer_name: str | None
    confirmed_at: datetime | None  # Zoho's data for it was confirmed as of then
    give_up_at: datetime  # still unconfirmed then, it ends `missed` with this reason
    waiting_reason: str

    def to_json(self) -> dict[str, Any]:
        return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in vars(self).items()}


def waiting(db: Database, *, user_id: str | None, limit: int = 1000) -> list[Waiting]:
    """Reminders due now that wait for Zoho's confirmation (or for their tenant), oldest first."""
    rows = db.rows(
        "SELECT reminder_id::text, user_id, send_at_utc, zoho_invoice_id, invoice_number, zoho_customer_id, "
        "customer_name, confirmed_at, give_up_at, waiting_reason FROM reminder_sender.waiting_reminders "
        "WHERE (CAST(:user_id AS text) IS NULL OR user_id = :user_id) ORDER BY send_at_utc, reminder_id LIMIT :limit",
        user_id=user_id,
        limit=limit,
    )
    return [Waiting(**row) for row in rows]


_CLAIM = """
SELECT reminder_id::text, user_id, offset_days, send_at_utc, send_at_local, timezone, attempts, zoho_invoice_id,
       invoice_number, balance, currency_code, due_date, zoho_customer_id, customer_name, phone, phone_is_override,
       sms_enabled, whatsapp_enabled, claim_id::text
  FROM reminder_sender.claim_due_reminders(CAST(:user_id AS text), CAST(:limit AS integer),
                                           make_interval(secs => CAST(:lease_seconds AS double precision)))
 ORDER BY send_at_utc, reminder_id
"""


def claim(db: Database, *, user_id: str | None, limit: int, lease_seconds: float) -> list[Delivery]:
    """Take up to `limit` due reminders for `lease_seconds`; each comes with its `claim_id`."""
    rows = db.rows(_CLAIM, user_id=user_id, limit=limit, lease_seconds=lease_seconds)
    return [Delivery(**row) for row in rows]


_COMPLETE = """
SELECT reminder_sender.complete_reminder(CAST(:reminder_id AS uuid), CAST(:claim_id AS uuid),
                                         CAST(:outcome AS text), CAST(:error AS text))
"""


def complete(
    db: Database, *, reminder_id: str, claim_id: str, outcome: Outcome, error: str | None = None
) -> Completion:
    """Report a claimed reminder sent or failed; a reminder the sync cancelled meanwhile answers `cancelled`."""
    answer = db.scalar(_COMPLETE, reminder_id=reminder_id, claim_id=claim_id, outcome=outcome, error=error)
    return cast(Completion, answer)


def tenant_exists(db: Database, user_id: str) -> bool:
    """Whether the tenant exists, through the sender's own schema (migration 0020: its role reads nothing else)."""
    return bool(db.scalar("SELECT EXISTS (SELECT 1 FROM reminder_sender.tenant_ids WHERE user_id = :u)", u=user_id))
