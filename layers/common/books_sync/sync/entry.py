"""What a per-tenant step's Lambda handler does, once for every step: event → tenant → run → summary.

The event is checked first (a bad one fails naming the field), then the tenant (unknown or not
active: a typed error), then the tenant's lease: an execution holds it from its first step to its
last, so a second execution (or `zoho-sync run`) that reaches a tenant still in flight skips it
instead of working beside it. The run is recorded in `step_runs` (started, then how it ended,
error included) and logged with the tenant and the execution; its metrics are emitted by step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger

from books_sync.db import Database, connect_from_settings, get_database
from books_sync.errors import DatabaseError, DatabaseUnavailable, StepStillRunning, ZohoAuthError, calls_made
from books_sync.events import StepEvent, parse_step_event
from books_sync.migrator import require_current
from books_sync.observability import emit_step_metrics
from books_sync.settings import Settings, get_settings
from books_sync.storage import leases, step_runs, tenants
from books_sync.storage.tenants import Tenant
from books_sync.sync.frame import SyncStep, run_sync_step
from books_sync.sync.summary import StepSummary
from books_sync.sync.time_budget import RemainingTime, TimeBudget

Run = Callable[[Database, Tenant, Settings, StepEvent, TimeBudget], StepSummary]
LAST_STEP = "reminders"
LEASE_GRACE_SECONDS = 300  # beyond the Lambda's own deadline: the gap to the tenant's next step
FLEET_LEASE_GAP_SECONDS = 900  # the all-tenant execution's lease outlives its latest step by this much


def handle_tenant_event(event: Any, context: RemainingTime, step: str, logger: Logger, run: Run) -> dict[str, Any]:
    """Parse, find the tenant, take its lease, run the step under a `step_runs` record, emit its metrics."""
    request = parse_step_event(event)
    logger.thread_safe_append_keys(userId=request.user_id, executionId=request.execution_id)
    settings = get_settings()
    db = get_database()
    require_current(db)  # an older schema than the code: say so, never half-work on it
    tenant = tenants.get_active(db, request.user_id)
    with tenant_lease(db, tenant.user_id, request.execution_id, step, context) as other:
        if other is not None:
            logger.info("the tenant is in flight in another run; skipped", extra={"heldBy": other.holder})
            return {**StepSummary(user_id=tenant.user_id, status="skipped").to_output(), "heldBy": other.holder}
        step_runs.started(db, tenant.user_id, step, request.execution_id)
        try:
            summary = run(db, tenant, settings, request, TimeBudget(context, settings.time_safety_margin_seconds))
        except ZohoAuthError as exc:  # expected: the owner must reconnect; no traceback to read
            logger.warning("the tenant needs re-authorization", extra={"step": step, "error": str(exc)})
            step_runs.finished(db, tenant.user_id, step, None, f"{type(exc).__name__}: {exc}", calls=calls_made(exc))
            raise
        except Exception as exc:
            logger.exception("step failed", extra={"step": step, "error": type(exc).__name__})
            step_runs.finished(db, tenant.user_id, step, None, f"{type(exc).__name__}: {exc}", calls=calls_made(exc))
            raise
        except KeyboardInterrupt as exc:  # `zoho-sync run` stopped (Ctrl-C, SIGTERM, SIGHUP): say so, then stop
            _record_interrupted(tenant.user_id, step, str(exc) or "Ctrl-C")
            raise
    output = summary.to_output()
    step_runs.finished(db, tenant.user_id, step, output, None)
    emit_step_metrics(step, summary.metrics())
    return output


def _record_interrupted(user_id: str, step: str, why: str) -> None:
    """On a connection of its own: the interrupted one may be mid-statement. Best effort: the process is ending."""
    try:
        db = connect_from_settings()
    except DatabaseUnavailable:
        return
    try:
        step_runs.finished(db, user_id, step, None, f"interrupted ({why}): every committed page is kept")
    except DatabaseError:
        pass
    finally:
        db.close()


@contextmanager
def tenant_lease(
    db: Database, user_id: str, execution_id: str | None, step: str, context: RemainingTime
) -> Iterator[leases.Lease | None]:
    """Hold the tenant's lease for this step; yields the other run's lease when it is taken.

    An execution keeps its lease between its steps and gives it back after the last one; an
    invocation without an execution id (`sam local invoke`) holds it for its own call only.
    """
    holder = execution_id or f"invocation:{uuid.uuid4()}"
    invocation = str(getattr(context, "aws_request_id", "") or uuid.uuid4())
    seconds = context.get_remaining_time_in_millis() / 1000 + LEASE_GRACE_SECONDS
    other = leases.take(db, user_id, holder, step, seconds, invocation=invocation)
    if other is not None and other.holder == holder:  # a retried task while the first invocation still runs
        raise StepStillRunning(f"{step} for {user_id} is still running in an earlier invocation of {holder}")
    if other is None and execution_id is not None:
        leases.renew_fleet(db, execution_id, seconds + FLEET_LEASE_GAP_SECONDS)
    try:
        yield other
    finally:
        if other is None and (execution_id is None or step == LAST_STEP):
            leases.give_back(db, user_id, holder)
        elif other is None:
            leases.end_invocation(db, user_id, invocation)


def sync_run(step: type[SyncStep[Any]]) -> Run:
    """What a sync step does for a tenant: the frame runs it."""

    def run(db: Database, tenant: Tenant, settings: Settings, request: StepEvent, budget: TimeBudget) -> StepSummary:
        return run_sync_step(step, db, tenant, settings, full_resync=request.full_resync, budget=budget)

    return run


def handle_sync_event(event: Any, context: RemainingTime, step: type[SyncStep[Any]], logger: Logger) -> dict[str, Any]:
    """A sync step's handler: the frame runs it for the tenant, under the tenant's lease."""
    return handle_tenant_event(event, context, step.service, logger, sync_run(step))
