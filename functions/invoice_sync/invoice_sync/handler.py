"""InvoiceSync step: `{"userId": "u1", "fullResync": false}` → summary (runs after customer sync)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.observability import lambda_entry
from books_sync.steps.invoices import InvoiceSync
from books_sync.sync.entry import handle_sync_event

logger = Logger(service="invoice-sync")


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_sync_event(event, context, InvoiceSync, logger)
