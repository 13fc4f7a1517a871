"""TenantBatch: `{"Items": [{"userId": "u1"}, ...], "BatchInput": {"executionId", "fullResync"}}` (a batch of
quiet tenants from the QuietTenants Map) → counts; each tenant's three steps in turn (`books_sync.sync.batch`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.db import get_database
from books_sync.events import parse_batch_event
from books_sync.migrator import require_current
from books_sync.observability import lambda_entry
from books_sync.sync.batch import run_batch

logger = Logger(service="tenant-batch")


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_batch_event(event)
    require_current(get_database())
    outcome = run_batch(request, context, logger)
    logger.info("batch done", extra=outcome)
    return outcome
