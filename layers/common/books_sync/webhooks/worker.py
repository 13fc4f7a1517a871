"""The worker: queued messages in (each says a tenant has records to read), turns per tenant, and which
messages to deliver again. The same for SQS and `webhooks serve`. The records themselves are in
`webhook_inbox` (the receiver coalesced them there), so a message delivered twice (SQS delivers at least
once) or a replayed webhook costs a re-read at most.

A message is delivered again only when it cannot be handled at all (malformed, or an error in our code):
after 5 deliveries it rests in the dead-letter queue, alarmed. Records a turn could not read (the tenant
busy for long, Zoho down or refusing, no time left, more than the turns read) stay to be read, and the
freshen's sweep reads them within minutes once their wait is over: neither the queue nor its alarm is
used for what is only a delay.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from books_sync.db import Database
from books_sync.errors import DatabaseUnavailable, EventError
from books_sync.settings import Settings
from books_sync.storage import tenants, webhooks
from books_sync.sync.time_budget import TimeBudget
from books_sync.webhooks.apply import WebhookTurn, apply_webhooks
from books_sync.webhooks.receiver import parse_message

logger = Logger(service="webhooks", child=True)
TURNS = 5  # per tenant and delivery: records named again while they were read are read again at once
WAIT_SECONDS = 5.0  # a record due later than this (its backoff) is left to the sweep
BUSY_TRIES, BUSY_SECONDS = 3, 2.0  # the tenant's lease held (a step): asked again, then left to the sweep


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
    """`messages`: (message id, body). Every tenant named gets its turns; one tenant's error gives back its
    messages only."""
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
            result.inactive += len(message_ids)  # its records wait: the sweep reads them once it is active again
            continue
        try:
            worker.before_turns(user_id)
            turns(db, tenant, settings, budget, result.turns, worker.holder)
        except DatabaseUnavailable:
            raise  # everyone's trouble: the whole batch again
        except Exception:
            logger.exception("webhook turn failed", extra={"userId": user_id})
            result.retry += message_ids
    if result.malformed:
        logger.warning("malformed webhook messages", extra={"count": result.malformed})
    return result


def turns(  # noqa: PLR0917 - the worker's whole context, passed down once
    db: Database,
    tenant: tenants.Tenant,
    settings: Settings,
    budget: TimeBudget,
    done: list[WebhookTurn],
    holder: str | None = None,
    *,
    busy_tries: int = BUSY_TRIES,
) -> None:
    """Turns while records are due or about to be (a burst ending: a few seconds' sleep), while the tenant's
    lease frees within a few seconds, and while there is time; what is left waits for the sweep."""
    busy = 0
    for _ in range(TURNS):
        wait = webhooks.seconds_to_next(db, tenant.user_id)
        if wait is None or wait > WAIT_SECONDS or budget.should_stop():
            return
        time.sleep(wait)
        turn = apply_webhooks(db, tenant, settings, budget, holder=holder)
        done.append(turn)
        if turn.status == "busy" and busy < busy_tries:  # a quiet batch holds it for a second or two
            busy += 1
            time.sleep(BUSY_SECONDS)
        elif turn.status != "applied" or turn.failed_ids:
            return
