"""InvoiceSync step: `{"userId": "u1", "fullResync": false}` → summary (runs after customer sync)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.db import get_database
from books_sync.events import parse_step_event
from books_sync.observability import emit_step_metrics
from books_sync.settings import get_settings
from books_sync.storage import tenants
from books_sync.sync.time_budget import TimeBudget
from invoice_sync.engine import run_invoice_sync

logger = Logger(service="invoice-sync")
tracer = Tracer(service="invoice-sync")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_step_event(event)
    logger.thread_safe_append_keys(userId=request.user_id)  # steps run in threads in the local runner
    settings = get_settings()
    db = get_database()
    tenant = tenants.get_active(db, request.user_id)
    summary = run_invoice_sync(
        db,
        tenant,
        settings,
        full_resync=request.full_resync,
        budget=TimeBudget(context, settings.time_safety_margin_seconds),
    )
    emit_step_metrics("invoice-sync", request.user_id, summary.metrics())
    return summary.to_output()
