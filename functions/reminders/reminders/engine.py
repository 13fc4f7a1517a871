"""Reminders: keep the schedule true to the invoices and customers in the cache.

Open invoices whose customer is live and has an effective phone get one reminder per configured
offset; everything else loses its pending reminders, with the reason. Set-based and idempotent:
a second run changes nothing. One run per tenant at a time (a second one waits, then finds
nothing to do), and the unique (invoice, offset) key makes duplicates impossible regardless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools import Logger

from books_sync.clock import utcnow
from books_sync.db import Database
from books_sync.storage import reminders, sync_state
from books_sync.storage.tenants import Tenant
from books_sync.sync.summary import StepSummary, count
from reminders.schedule import plan, zone

logger = Logger(service="reminders", child=True)


@dataclass
class RemindersSummary(StepSummary):
    created: int = count("RemindersCreated")
    cancelled: int = count("RemindersCancelled")
    rescheduled: int = count("RemindersRescheduled")
    reactivated: int = count()
    skipped_no_phone: int = count("InvoicesSkippedNoPhone")
    skipped_no_due_date: int = count()
    pending: int = count("RemindersPending")
    cancel_reasons: dict[str, int] = field(default_factory=dict)


def refresh_reminders(db: Database, tenant: Tenant, *, now: Callable[[], datetime] = utcnow) -> RemindersSummary:
    summary = RemindersSummary(user_id=tenant.user_id)
    with db.locked(f"reminders:{tenant.user_id}", wait=True):
        settings = sync_state.reminder_settings(db, tenant.user_id)
        moment = now()
        found = reminders.candidates(db, tenant.user_id)
        planned: list[reminders.Wanted] = []
        for invoice in found.with_phone:
            if invoice.due_date is None:
                summary.skipped_no_due_date += 1
                continue
            tz = zone(invoice.timezone, tenant.organization_timezone)
            planned += [
                reminders.Wanted(invoice.invoice_id, item.offset_days, item.scheduled_for, item.past)
                for item in plan(invoice.due_date, settings.offsets_days, settings.local_hour, tz, moment)
            ]
        with db.transaction():
            applied = reminders.apply(db, tenant.user_id, planned)
            reasons = reminders.cancel_unwanted(db, tenant.user_id, planned)
            sync_state.mark_reminders_run(db, tenant.user_id)
        summary.pending = reminders.pending_count(db, tenant.user_id)
    summary.skipped_no_phone = found.without_phone
    summary.created = applied.created + applied.reactivated
    summary.reactivated = applied.reactivated
    summary.rescheduled = applied.rescheduled
    summary.cancel_reasons = dict(reasons)
    if applied.cancelled_past:
        summary.cancel_reasons[reminders.CancelReason.MOVED_INTO_PAST] = applied.cancelled_past
    summary.cancelled = sum(summary.cancel_reasons.values())
    if summary.skipped_no_phone:
        logger.info(
            "open invoices without a customer phone get no reminders", extra={"count": summary.skipped_no_phone}
        )
    logger.info("reminders step done", extra={"summary": summary.to_output()})  # "created" is a LogRecord field
    return summary
