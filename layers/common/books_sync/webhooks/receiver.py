"""The receiver: a webhook request checked (size, route, secret, the record named), written to the
tenant's inbox (coalesced per record) and, when the record has just become to be read, a message queued for
the worker: in milliseconds and without a Zoho call. The same for the Lambda function URL and `zoho-sync
webhooks serve`. The message is only `{userId, kind, id, receivedAt}`; nothing from a request is logged.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from books_sync.clock import utcnow
from books_sync.db import Database
from books_sync.errors import EventError
from books_sync.storage import webhooks
from books_sync.webhooks.request import KINDS, Kind, Notice, Refusal, Request, read_notice

Enqueue = Callable[[dict[str, str]], None]
logger = Logger(service="webhooks", child=True)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def receive(request: Request, db: Database, enqueue: Enqueue, *, now: Callable[[], datetime] = utcnow) -> Answer:
    found = read_notice(request, lambda user_id: webhooks.secrets_of(db, user_id))
    if isinstance(found, Refusal):
        return Answer(found.status, {"error": found.reason})
    if webhooks.received(db, found.user_id, found.kind, found.zoho_id):
        try:
            enqueue(message(found, now()))
        except Exception:  # the queue refused or timed out: the next webhook for it, or the sweep, queues it
            webhooks.not_queued(db, found.user_id, found.kind, found.zoho_id)
            logger.exception("could not queue a webhook's record", extra={"userId": found.user_id})
            return Answer(503, {"error": "accepted but not queued; send it again"})
    return Answer(202, {"accepted": {"kind": found.kind, "id": found.zoho_id}})


def message(notice: Notice, received_at: datetime) -> dict[str, str]:
    return {"userId": notice.user_id, "kind": notice.kind, "id": notice.zoho_id, "receivedAt": received_at.isoformat()}


def parse_message(body: str) -> tuple[str, Kind, str, datetime]:
    """A queued message as the worker reads it (a bad one fails naming the field: it goes to the DLQ)."""
    try:
        fields = json.loads(body)
        user_id, kind, zoho_id = str(fields["userId"]), KINDS[fields["kind"]], str(fields["id"])
        return user_id, kind, zoho_id, datetime.fromisoformat(fields["receivedAt"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EventError(f"webhook message: expected {{userId, kind, id, receivedAt}} ({type(exc).__name__})") from None


def from_function_url(event: dict[str, Any]) -> Request:
    """A Lambda function URL event (payload 2.0) as a request; headers arrive lower-cased."""
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    http = (event.get("requestContext") or {}).get("http") or {}
    return Request(
        method=str(http.get("method", "")).upper(),
        path=str(event.get("rawPath", "")),
        query={str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
        headers={str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()},
        body=raw,
    )
