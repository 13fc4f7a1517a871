"""A batch of quiet tenants in one invocation (TenantBatch: the QuietTenants Map's EXPRESS children).

Each tenant's customer sync, invoice sync and reminders run in turn, each exactly as in its own Lambda
(`entry.handle_tenant_event`: the tenant's lease, its `step_runs` record, its metrics), one round
each: a quiet tenant needs no more. A tenant is left to the standard path (the HeavyTenants Map, which
RestTenants fills from `step_runs`) when a step has more to do, another run holds it, a step fails (the
standard path retries what is worth retrying) or the batch's time would not let it finish: an EXPRESS
child lives 5 minutes at most. Every step is idempotent and leased, so running a tenant again, here or
there (an EXPRESS child may run twice), changes nothing twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from aws_lambda_powertools import Logger

from books_sync.events import BatchEvent
from books_sync.settings import get_settings
from books_sync.steps.customers import CustomerSync
from books_sync.steps.invoices import InvoiceSync
from books_sync.steps.reminders import refresh_reminders
from books_sync.sync.entry import Run, handle_tenant_event, sync_run
from books_sync.sync.time_budget import RemainingTime

Outcome = Literal["done", "left", "failed"]
TENANT_SECONDS = 15.0  # what a quiet tenant's three steps take at most, beyond the steps' own safety margin

STEPS: tuple[tuple[str, Run], ...] = (
    ("customer-sync", sync_run(CustomerSync)),
    ("invoice-sync", sync_run(InvoiceSync)),
    ("reminders", lambda db, tenant, *_: refresh_reminders(db, tenant)),
)


def run_batch(request: BatchEvent, context: RemainingTime, logger: Logger) -> dict[str, Any]:
    """Each tenant of the batch in turn; the counts of what became of them (ids are in `step_runs`)."""
    margin = get_settings().time_safety_margin_seconds  # 0: work to the end, no time check (as in the steps)
    outcomes: Counter[Outcome] = Counter()
    for user_id in request.user_ids:
        if margin and context.get_remaining_time_in_millis() / 1000 < margin + TENANT_SECONDS:
            outcomes["left"] += 1  # out of time: the standard path takes it in this execution
            continue
        outcomes[_run_tenant(user_id, request, context, logger)] += 1
    return {"tenants": len(request.user_ids), **{name: outcomes[name] for name in ("done", "left", "failed")}}


def _run_tenant(user_id: str, request: BatchEvent, context: RemainingTime, logger: Logger) -> Outcome:
    event = {"userId": user_id, "fullResync": request.full_resync, "executionId": request.execution_id}
    for step, run in STEPS:
        try:
            summary = handle_tenant_event(event, context, step, logger, run)
        except Exception:  # noqa: BLE001 - logged and recorded by the step; the next tenant goes on
            return "failed"
        if summary.get("status") == "skipped" or summary.get("hasMore"):
            return "left"
    return "done"
