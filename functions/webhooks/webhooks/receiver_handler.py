"""WebhookReceiver: Zoho's webhook at the function URL → checked, written to the inbox, queued (SQS).

Answers 202 (accepted), 400 (malformed), 401 (unknown tenant or wrong secret), 404, 405 or 413; nothing
from a request is logged but the answer's status (see `books_sync.webhooks.request`).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.db import get_database
from books_sync.observability import lambda_entry
from books_sync.settings import get_settings
from books_sync.webhooks.receiver import from_function_url, receive

logger = Logger(service="webhook-receiver")


@cache
def _sqs() -> Any:
    return boto3.client("sqs")


def _enqueue(message: dict[str, str]) -> None:
    _sqs().send_message(QueueUrl=get_settings().webhook_queue_url, MessageBody=json.dumps(message))


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = receive(from_function_url(event), get_database(), _enqueue)
    logger.info("webhook answered", extra={"status": answer.status})
    return {
        "statusCode": answer.status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(answer.body),
    }
