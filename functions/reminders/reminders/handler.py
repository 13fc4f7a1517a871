"""Reminders step: `{"userId": "u1"}` → summary (runs after invoice sync; makes no Zoho call)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.db import get_database
from books_sync.events import parse_step_event
from books_sync.observability import emit_step_metrics
from books_sync.storage import tenants
from reminders.engine import refresh_reminders

logger = Logger(service="reminders")
tracer = Tracer(service="reminders")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # fullResync is accepted (the state machine passes one input to every step) and means nothing here.
    request = parse_step_event(event)
    logger.thread_safe_append_keys(userId=request.user_id)
    db = get_database()
    tenant = tenants.get_active(db, request.user_id)
    summary = refresh_reminders(db, tenant)
    emit_step_metrics("reminders", request.user_id, summary.metrics())
    return summary.to_output()
