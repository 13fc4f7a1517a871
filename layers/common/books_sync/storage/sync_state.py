"""SQL for `sync_metadata`: cursors, checkpoints and per-tenant sync settings.

Each sync step ("customer", "invoice") has a cursor (the highest Zoho last_modified_time it has
committed) and a checkpoint (where a run in progress stands). Both are written in the same
transaction as the page they describe, so neither can get ahead of committed data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from books_sync.db import Database

Step = Literal["customer", "invoice"]

# Column names cannot be bound parameters, so each step's statements are written out in full.
_LOAD = {
    "customer": """
        SELECT customer_cursor AS cursor, customer_checkpoint AS checkpoint,
               customer_sync_window_days AS window_days, last_customer_sync_at AS last_sync_at,
               last_customer_reconcile_at AS last_reconcile_at
          FROM sync_metadata WHERE user_id = :user_id""",
    "invoice": """
        SELECT invoice_cursor AS cursor, invoice_checkpoint AS checkpoint,
               invoice_sync_window_days AS window_days, last_invoice_sync_at AS last_sync_at,
               last_invoice_reconcile_at AS last_reconcile_at
          FROM sync_metadata WHERE user_id = :user_id""",
}
_SAVE = {
    "customer": """
        UPDATE sync_metadata
           SET customer_cursor = greatest(customer_cursor, CAST(:cursor AS timestamptz)),
               customer_checkpoint = CAST(:checkpoint AS jsonb), updated_at = now()
         WHERE user_id = :user_id""",
    "invoice": """
        UPDATE sync_metadata
           SET invoice_cursor = greatest(invoice_cursor, CAST(:cursor AS timestamptz)),
               invoice_checkpoint = CAST(:checkpoint AS jsonb), updated_at = now()
         WHERE user_id = :user_id""",
}
_FINISH = {
    "customer": """
        UPDATE sync_metadata
           SET customer_checkpoint = NULL, last_customer_sync_at = now(),
               last_customer_reconcile_at = coalesce(CAST(:reconciled_at AS timestamptz), last_customer_reconcile_at),
               updated_at = now()
         WHERE user_id = :user_id""",
    "invoice": """
        UPDATE sync_metadata
           SET invoice_checkpoint = NULL, last_invoice_sync_at = now(),
               last_invoice_reconcile_at = coalesce(CAST(:reconciled_at AS timestamptz), last_invoice_reconcile_at),
               updated_at = now()
         WHERE user_id = :user_id""",
}


_CACHED_ROWS = {
    "customer": "SELECT count(*) FROM customers_cache WHERE user_id = :user_id",
    "invoice": "SELECT count(*) FROM invoices_cache WHERE user_id = :user_id",
}


@dataclass(frozen=True)
class ScanState:
    cursor: datetime | None
    checkpoint: dict[str, Any] | None
    window_days: int
    last_sync_at: datetime | None
    last_reconcile_at: datetime | None


def ensure(db: Database, user_id: str) -> None:
    db.run("INSERT INTO sync_metadata (user_id) VALUES (:user_id) ON CONFLICT DO NOTHING", user_id=user_id)


def load(db: Database, user_id: str, step: Step) -> ScanState:
    row = db.one(_LOAD[step], user_id=user_id)
    if row is None:
        ensure(db, user_id)
        row = db.one(_LOAD[step], user_id=user_id)
        assert row is not None
    checkpoint = row["checkpoint"]
    if isinstance(checkpoint, str):
        checkpoint = json.loads(checkpoint)
    return ScanState(
        cursor=row["cursor"],
        checkpoint=checkpoint,
        window_days=int(row["window_days"]),
        last_sync_at=row["last_sync_at"],
        last_reconcile_at=row["last_reconcile_at"],
    )


def save_progress(
    db: Database, user_id: str, step: Step, cursor: datetime | None, checkpoint: dict[str, Any] | None
) -> None:
    """Within the page's transaction: the cursor only moves forward."""
    db.run(
        _SAVE[step],
        user_id=user_id,
        cursor=cursor,
        checkpoint=json.dumps(checkpoint) if checkpoint is not None else None,
    )


def cached_rows(db: Database, user_id: str, step: Step) -> int:
    """How many rows the step has cached for the tenant (with none, a deletion reconcile finds nothing)."""
    return int(db.scalar(_CACHED_ROWS[step], user_id=user_id))


def finish(db: Database, user_id: str, step: Step, reconciled_at: datetime | None) -> None:
    db.run(_FINISH[step], user_id=user_id, reconciled_at=reconciled_at)


@dataclass(frozen=True)
class ReminderSettings:
    offsets_days: tuple[int, ...]
    local_hour: int


def reminder_settings(db: Database, user_id: str) -> ReminderSettings:
    row = db.one(
        "SELECT reminder_offsets_days, reminder_local_hour FROM sync_metadata WHERE user_id = :user_id",
        user_id=user_id,
    )
    if row is None:
        return ReminderSettings((-3, 0, 7), 9)
    return ReminderSettings(tuple(int(d) for d in row["reminder_offsets_days"]), int(row["reminder_local_hour"]))


def mark_reminders_run(db: Database, user_id: str) -> None:
    db.run(
        "UPDATE sync_metadata SET last_reminders_run_at = now(), updated_at = now() WHERE user_id = :user_id",
        user_id=user_id,
    )
