"""What a sync step's Lambda handler does, once for both steps: event → tenant → run → summary."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from books_sync.db import get_database
from books_sync.events import parse_step_event
from books_sync.observability import emit_step_metrics
from books_sync.settings import get_settings
from books_sync.storage import tenants
from books_sync.sync.frame import SyncStep, run_sync_step
from books_sync.sync.time_budget import RemainingTime, TimeBudget


def handle_sync_event(event: Any, context: RemainingTime, step: type[SyncStep[Any]], logger: Logger) -> dict[str, Any]:
    """Parse the event (a bad one fails naming the field), run the step for its tenant, report."""
    request = parse_step_event(event)
    logger.thread_safe_append_keys(userId=request.user_id)  # steps run in threads in the local runner
    settings = get_settings()
    db = get_database()
    tenant = tenants.get_active(db, request.user_id)
    summary = run_sync_step(
        step,
        db,
        tenant,
        settings,
        full_resync=request.full_resync,
        budget=TimeBudget(context, settings.time_safety_margin_seconds),
    )
    emit_step_metrics(step.service, request.user_id, summary.metrics())
    return summary.to_output()
