"""The worker: queued messages in (each says a tenant has records to read), one or more turns per tenant,
and which messages to deliver again (the tenant was busy, Zoho failed, more to read). The same for SQS
and `webhooks serve`. The records themselves are in `webhook_inbox` (the receiver coalesced them there), so
a message delivered twice (SQS delivers at least once) or a replayed webhook costs a re-read at most.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from books_sync.db import Database
from books_sync.errors import EventError
from books_sync.settings import Settings
from books_sync.storage import tenants, webhooks
from books_sync.sync.time_budget import TimeBudget
from books_sync.webhooks.apply import WebhookTurn, apply_webhooks
from books_sync.webhooks.receiver import parse_message

logger = Logger(service="webhooks", child=True)
TURNS = 5  # per tenant and delivery: records named again while they were read are read again at once
WAIT_SECONDS = 5.0  # a record due later than this (its backoff) waits for the next delivery


@dataclass
class WorkResult:
    turns: list[WebhookTurn] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)  # message ids to deliver again
    malformed: int = 0
    inactive: int = 0  # messages of tenants not active (disabled, re-authorization): dropped, runs catch up


@dataclass(frozen=True)
class Worker:
    """Who works: the lease holder to use (None: one per turn), and what to do before a tenant's turns
    (`zoho-sync webhooks serve` frees the lease a killed `zoho-sync` process left)."""

    holder: str | None = None
    before_turns: Callable[[str], None] = lambda user_id: None


def work(
    db: Database, settings: Settings, budget: TimeBudget, messages: Sequence[tuple[str, str]], worker: Worker = Worker()
) -> WorkResult:
    """`messages`: (message id, body). Every tenant named gets its turns."""
    result = WorkResult()
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for message_id, body in messages:
        try:
            by_tenant[parse_message(body)[0]].append(message_id)
        except EventError:
            result.malformed += 1
            result.retry.append(message_id)  # it fails again, then rests in the dead-letter queue
    for user_id, message_ids in by_tenant.items():
        tenant = tenants.get(db, user_id)
        if tenant is None or tenant.status != "active":
            result.inactive += len(message_ids)
            continue
        worker.before_turns(user_id)
        if not _turns(db, tenant, settings, budget, result, worker.holder):
            result.retry += message_ids
    if result.malformed:
        logger.warning("malformed webhook messages", extra={"count": result.malformed})
    return result


def _turns(  # noqa: PLR0917 - the worker's whole context, passed down once
    db: Database, tenant: tenants.Tenant, settings: Settings, budget: TimeBudget, result: WorkResult, holder: str | None
) -> bool:
    """Turns while records wait, sleeping the few seconds until a burst is over; False when some are left
    for a later delivery (busy, failed, or waiting longer than `WAIT_SECONDS`)."""
    for _ in range(TURNS):
        wait = webhooks.seconds_to_next(db, tenant.user_id)
        if wait is None:
            return True
        if wait > WAIT_SECONDS:
            return False  # in its backoff: the next delivery
        time.sleep(wait)
        turn = apply_webhooks(db, tenant, settings, budget, holder=holder)
        result.turns.append(turn)
        if turn.status in ("busy", "failed") or turn.failed_ids:
            return False
    return webhooks.seconds_to_next(db, tenant.user_id) is None
