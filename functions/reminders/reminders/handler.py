"""Reminders step: `{"userId": "u1"}` → summary (runs after invoice sync; makes no Zoho call)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.observability import lambda_entry
from books_sync.steps.reminders import refresh_reminders
from books_sync.sync.entry import handle_tenant_event

logger = Logger(service="reminders")


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # fullResync is accepted (the state machine passes one input to every step) and means nothing here.
    return handle_tenant_event(
        event, context, "reminders", logger, lambda db, tenant, *_: refresh_reminders(db, tenant)
    )
