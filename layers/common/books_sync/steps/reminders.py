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
from books_sync.records.schedule import ReminderPolicy, plan, zone
from books_sync.storage import leases, reminders, sync_state
from books_sync.storage.tenants import Tenant
from books_sync.sync.summary import StepSummary, count

logger = Logger(service="reminders", child=True)


@dataclass
class RemindersSummary(StepSummary):
    created: int = count("RemindersCreated")
    cancelled: int = count("RemindersCancelled")
    rescheduled: int = count("RemindersRescheduled")
    reactivated: int = count()
    skipped_no_phone: int = count("InvoicesSkippedNoPhone")
    skipped_reminders_off: int = count()
    waiting_for_customer_detail: int = count("InvoicesWaitingForCustomerDetail")
    skipped_no_due_date: int = count()
    pending: int = count("RemindersPending")
    plan_unchanged: int = count()  # 1: nothing planned from changed since the last plan (skipped, 0.0x s)
    cancel_reasons: dict[str, int] = field(default_factory=dict)


def planned_reminders(
    found: reminders.Candidates, policy: ReminderPolicy, fallback_zone: str | None, now: datetime
) -> tuple[list[reminders.Wanted], int]:
    """Every reminder the schedule wants for the reminder-ready invoices; and how many have no basis date."""
    planned: list[reminders.Wanted] = []
    without_date = 0
    for invoice in found.ready:
        basis = policy.basis_date(invoice.due_date, invoice.payment_expected_date)
        if basis is None:
            without_date += 1
            continue
        tz = zone(invoice.timezone, fallback_zone)
        planned += [
            reminders.Wanted(invoice.invoice_id, item.offset_days, item.scheduled_for, item.past)
            for item in plan(basis, policy, tz, now)
        ]
    return planned, without_date


def refresh_reminders(db: Database, tenant: Tenant, *, now: Callable[[], datetime] = utcnow) -> RemindersSummary:
    """Apply the schedule to the tenant's reminders: create, move, bring back, cancel with a reason. The open
    invoices are planned `reminders.CHUNK` at a time (memory flat at any size), in one transaction."""
    summary = RemindersSummary(user_id=tenant.user_id)
    with db.transaction():  # two refreshes of one tenant wait for each other (a lock that ends with the commit)
        leases.serialize_in_transaction(db, f"reminders:{tenant.user_id}")
        if sync_state.plan_unchanged(db, tenant.user_id):
            summary.plan_unchanged = 1  # nothing planned from changed: planning again would change nothing
        else:
            _plan_everything(db, tenant, now(), summary)
        sync_state.mark_reminders_run(db, tenant.user_id)
    summary.pending = reminders.pending_count(db, tenant.user_id)
    summary.cancelled = sum(summary.cancel_reasons.values())
    if summary.skipped_no_phone:
        logger.info(
            "open invoices without a customer phone get no reminders", extra={"count": summary.skipped_no_phone}
        )
    logger.info("reminders step done", extra={"summary": summary.to_output()})  # "created" is a LogRecord field
    return summary


def _plan_everything(db: Database, tenant: Tenant, now: datetime, summary: RemindersSummary) -> None:
    horizon = sync_state.planning_horizon(db)  # before anything is read
    policy = sync_state.reminder_policy(db, tenant.user_id)
    found = reminders.candidates(db, tenant.user_id)
    while found.invoice_ids:
        _apply_chunk(db, tenant, policy, found, now, summary)
        found = reminders.candidates(db, tenant.user_id, after=found.last)
    _count(summary, reminders.cancel_unwanted(db, tenant.user_id, [], policy.basis, None))  # invoices closed
    sync_state.mark_planned(db, tenant.user_id, horizon)


def _apply_chunk(  # noqa: PLR0917 - one chunk's whole context
    db: Database,
    tenant: Tenant,
    policy: ReminderPolicy,
    found: reminders.Candidates,
    now: datetime,
    summary: RemindersSummary,
) -> None:
    planned, without_date = planned_reminders(found, policy, tenant.organization_timezone, now)
    applied = reminders.apply(db, tenant.user_id, planned)
    _count(summary, reminders.cancel_unwanted(db, tenant.user_id, planned, policy.basis, found.invoice_ids))
    summary.skipped_no_due_date += without_date
    summary.skipped_no_phone += found.without_phone
    summary.skipped_reminders_off += found.reminders_off
    summary.waiting_for_customer_detail += found.waiting_for_detail
    summary.created += applied.created + applied.reactivated
    summary.reactivated += applied.reactivated
    summary.rescheduled += applied.rescheduled
    if applied.cancelled_past:
        _count(summary, {reminders.CancelReason.MOVED_INTO_PAST: applied.cancelled_past})


def _count(summary: RemindersSummary, reasons: dict[str, int]) -> None:
    for reason, cancelled in reasons.items():
        summary.cancel_reasons[reason] = summary.cancel_reasons.get(reason, 0) + cancelled
