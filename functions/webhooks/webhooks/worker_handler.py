"""WebhookWorker: SQS batches → each tenant's named records read from Zoho by id and applied.

Partial batch responses: a message whose tenant was busy, whose reads failed or that has more to read is
given back (`batchItemFailures`) and delivered again after the queue's visibility timeout; after
`maxReceiveCount` deliveries it rests in the dead-letter queue (alarmed).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.db import get_database
from books_sync.migrator import require_current
from books_sync.observability import emit_step_metrics, lambda_entry
from books_sync.settings import get_settings
from books_sync.sync.time_budget import TimeBudget
from books_sync.webhooks.worker import work

logger = Logger(service="webhook-worker")


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    messages = [(str(r.get("messageId")), str(r.get("body"))) for r in records or [] if isinstance(r, dict)]
    settings = get_settings()
    db = get_database()
    require_current(db)
    result = work(db, settings, TimeBudget(context, settings.time_safety_margin_seconds), messages)
    emit_step_metrics(
        "webhooks",
        {
            "WebhookRecordsRead": sum(turn.read for turn in result.turns),
            "ZohoApiCalls": sum(turn.api_calls for turn in result.turns),
            "WebhookMessagesRetried": len(result.retry),
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in result.retry]}
