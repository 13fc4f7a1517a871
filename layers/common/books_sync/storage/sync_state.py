"""SQL for `sync_metadata`: cursors, checkpoints and per-tenant sync settings.

Each sync step ("customer", "invoice") has a cursor (the highest Zoho last_modified_time it has
committed) and a checkpoint (where a run in progress stands). Both are written in the same
transaction as the page they describe, so neither can get ahead of committed data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from books_sync.db import Database
from books_sync.records.schedule import ReminderPolicy

Step = Literal["customer", "invoice"]

# Column names cannot be bound parameters, so each step's statements are written out in full.
_LOAD = {
    "customer": """
        SELECT customer_cursor AS cursor, customer_checkpoint AS checkpoint,
               customer_sync_window_days AS window_days, last_customer_sync_at AS last_sync_at,
               last_customer_reconcile_at AS last_reconcile_at, NULL::integer AS reconcile_pages
          FROM sync_metadata WHERE user_id = :user_id""",
    "invoice": """
        SELECT invoice_cursor AS cursor, invoice_checkpoint AS checkpoint,
               invoice_sync_window_days AS window_days, last_invoice_sync_at AS last_sync_at,
               last_invoice_reconcile_at AS last_reconcile_at, open_invoice_pages AS reconcile_pages
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
               customer_pass_started_at = greatest(customer_pass_started_at, CAST(:pass_started_at AS timestamptz)),
               last_customer_reconcile_at = coalesce(CAST(:reconciled_at AS timestamptz), last_customer_reconcile_at),
               updated_at = now()
         WHERE user_id = :user_id""",
    "invoice": """
        UPDATE sync_metadata
           SET invoice_checkpoint = NULL, last_invoice_sync_at = now(),
               invoice_pass_started_at = greatest(invoice_pass_started_at, CAST(:pass_started_at AS timestamptz)),
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
    reconcile_pages: int | None = None  # pages of Zoho's id list at the last reconcile (invoices)


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
        reconcile_pages=row["reconcile_pages"],
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


def save_open_invoice_pages(db: Database, user_id: str, pages: int) -> None:
    """How long Zoho's unpaid list was at the last reconcile (a short one is checked every run)."""
    db.run(
        "UPDATE sync_metadata SET open_invoice_pages = :pages WHERE user_id = :user_id", pages=pages, user_id=user_id
    )


def cached_rows(db: Database, user_id: str, step: Step) -> int:
    """How many rows the step has cached for the tenant (with none, a deletion reconcile finds nothing)."""
    return int(db.scalar(_CACHED_ROWS[step], user_id=user_id))


def finish(db: Database, user_id: str, step: Step, pass_started_at: datetime, reconciled_at: datetime | None) -> None:
    """The run is read to its end: everything Zoho had changed before `pass_started_at` is in the cache."""
    db.run(_FINISH[step], user_id=user_id, pass_started_at=pass_started_at, reconciled_at=reconciled_at)


def reminder_policy(db: Database, user_id: str) -> ReminderPolicy:
    """The tenant's reminder settings (defaults when the tenant has no sync state yet)."""
    row = db.one(
        """
        SELECT reminder_offsets_days, reminder_local_hour, reminder_basis, reminder_grace_hours,
               reminder_repeat_days, reminder_repeat_max, reminder_max_attempts
          FROM sync_metadata WHERE user_id = :user_id
        """,
        user_id=user_id,
    )
    if row is None:
        return ReminderPolicy()
    return ReminderPolicy(
        offsets_days=tuple(int(d) for d in row["reminder_offsets_days"]),
        local_hour=int(row["reminder_local_hour"]),
        basis=row["reminder_basis"],
        grace=timedelta(hours=int(row["reminder_grace_hours"])),
        repeat_every_days=row["reminder_repeat_days"],
        repeat_max=int(row["reminder_repeat_max"]),
        max_attempts=int(row["reminder_max_attempts"]),
    )


_POLICY = (
    "concat_ws('|', m.reminder_offsets_days::text, m.reminder_local_hour, m.reminder_basis, m.reminder_grace_hours, "
    "m.reminder_repeat_days, m.reminder_repeat_max)"
)  # what the plan depends on among the tenant's settings
REPLAN_EVERY = "6 hours"  # whatever happened, everything is planned again at least this often


def plan_unchanged(db: Database, user_id: str) -> bool:
    """Whether nothing the reminders are planned from changed since they were last planned: no invoice or
    customer input stamped by a transaction the last plan may not have seen (the triggers of migration
    0021), the same settings, planned within `REPLAN_EVERY`."""
    return bool(
        db.scalar(
            f"""
            SELECT m.reminders_planned_at > now() - CAST(:every AS interval)
                   AND m.reminders_planned_policy = {_POLICY}
                   AND NOT EXISTS (SELECT 1 FROM invoices_cache AS i WHERE i.user_id = m.user_id
                                      AND i.plan_inputs_xid >= m.reminders_planned_xmin)
                   AND NOT EXISTS (SELECT 1 FROM customers_cache AS c WHERE c.user_id = m.user_id
                                      AND c.plan_inputs_xid >= m.reminders_planned_xmin)
              FROM sync_metadata AS m WHERE m.user_id = :user_id
            """,  # noqa: S608  # nosec B608 - _POLICY is a constant
            user_id=user_id,
            every=REPLAN_EVERY,
        )
    )


def planning_horizon(db: Database) -> str:
    """The oldest transaction still running now: a change by it, or by any later one, may be unseen by a
    plan that starts now (taken before the plan reads anything)."""
    return str(db.scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text"))


def mark_planned(db: Database, user_id: str, horizon: str) -> None:
    """Everything was planned, having seen every change older than `horizon`."""
    db.run(
        f"UPDATE sync_metadata AS m SET reminders_planned_at = now(), reminders_planned_xmin = CAST(:xmin AS xid8), "  # noqa: S608  # nosec B608 - a constant
        f"reminders_planned_policy = {_POLICY} WHERE m.user_id = :user_id",
        user_id=user_id,
        xmin=horizon,
    )


def mark_reminders_run(db: Database, user_id: str) -> None:
    """The reminders step applied the cache: what both passes confirmed is now confirmed for the sender too
    (`confirmed_at`, the older of the two pass starts; see migration 0015)."""
    db.run(
        """
        UPDATE sync_metadata
           SET last_reminders_run_at = now(), updated_at = now(),
               confirmed_at = CASE WHEN customer_pass_started_at IS NULL OR invoice_pass_started_at IS NULL
                                   THEN confirmed_at
                                   ELSE greatest(confirmed_at, least(customer_pass_started_at, invoice_pass_started_at))
                              END
         WHERE user_id = :user_id
        """,
        user_id=user_id,
    )


def freshness(db: Database, user_id: str) -> timedelta:
    """How recently Zoho must have confirmed a tenant's data for a reminder to go out."""
    minutes = db.scalar(
        "SELECT reminder_freshness_minutes FROM sync_metadata WHERE user_id = :user_id", user_id=user_id
    )
    return timedelta(minutes=int(minutes if minutes is not None else 15))


def needing_the_standard_path(db: Database, user_ids: list[str]) -> set[str]:
    """The tenants among these whose next run may be long: no first sync yet, a pass in progress, or a
    run of failures (the standard path's retries and isolation); every other one is quiet."""
    rows = db.run(
        """
        SELECT i.user_id FROM unnest(CAST(:ids AS text[])) AS i(user_id)
          LEFT JOIN sync_metadata m ON m.user_id = i.user_id
         WHERE m.user_id IS NULL  -- no sync state at all: a first sync
            OR m.last_customer_sync_at IS NULL OR m.last_invoice_sync_at IS NULL  -- no pass ended yet
            OR m.customer_checkpoint IS NOT NULL OR m.invoice_checkpoint IS NOT NULL OR m.failed_runs > 0
        """,
        ids=user_ids,
    )
    return {str(row[0]) for row in rows}
