"""Customer details by urgency, within the day's budget.

List rows give every customer at one call per 200; the detail (every person, the payment-reminder
setting, the SMS/WhatsApp preferences) costs a call each and decides whether a customer may get
reminders. So details are fetched after the invoices are known, most urgent first (see
`storage.customers.detail_queue`), while the day's calls last, leaving a reserve of each day's
budget for the day's incremental runs. A detail that cannot be had waits a growing time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from typing import Any

from aws_lambda_powertools import Logger

from books_sync.observability import progress_watched, report_progress
from books_sync.records.contacts import CustomerRecord
from books_sync.storage import api_usage, customers, sync_state
from books_sync.sync.frame import SyncStep, each_committing
from books_sync.sync.seen_keys import SeenKeys

_BATCH = 50  # details written in one transaction
_QUEUE_READ = 1000  # queue rows read at once, at least
_QUEUE_READS = 10  # reads a pass through the whole queue takes, up to...
_QUEUE_READ_MOST = 50_000  # ...this many rows a read (about 8 MB of ids)


def queue_read_size(waiting: int, left: int) -> int:
    """Queue rows to read at once. A read costs a pass over the tenant's waiting customers whatever its
    size (0.42 s at 100,000), so a fixed size made a first sync's reads quadratic: 100 reads at 100,000
    customers, 1,000 at a million. A tenth of the queue keeps it to about 10 reads up to 500,000."""
    return max(1, min(left, max(_QUEUE_READ, min(_QUEUE_READ_MOST, -(-waiting // _QUEUE_READS)))))


@dataclass
class DetailCounts:
    fetched: int = 0
    failures: int = 0
    gone: int = 0
    planned: int = 0  # details this run expects to read (counted only when progress is watched)
    failed_ids: list[str] = field(default_factory=list)  # unusable answers, asked again after a wait


@dataclass
class _Fetched:
    """One batch of the queue as fetched, written together (a prefix when interrupted)."""

    records: list[CustomerRecord] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def allowance(step: SyncStep[Any]) -> int:
    """Detail calls this run may spend: what is left today, less the reserve for incremental runs."""
    calls = api_usage.today(step.db, step.tenant.organization_id, step.tenant.daily_call_budget)
    return calls.left - ceil(calls.allowed * step.settings.details_budget_reserve)


def fetch_details_by_urgency(step: SyncStep[Any], counts: DetailCounts, logger: Logger) -> None:
    """Fetch queued details, most urgent first, until the queue, the allowance or the time runs out.

    The queue is read a tenth at a time (`queue_read_size`: its order hardly changes within a run, and
    reading it costs a pass over the tenant's customers) and committed `_BATCH` at a time. A customer
    fetched this run normally leaves the queue; one that stays (a detail older than its list row)
    is not offered again. `counts` grows as batches commit, so an interruption still reports them.
    """
    policy = sync_state.reminder_policy(step.db, step.tenant.user_id)
    tried = SeenKeys()  # up to every customer of a first sync: 8 bytes each
    still_queued: list[str] = []
    left = allowance(step)
    waiting = customers.waiting_for_detail(step.db, step.tenant.user_id) if left > 0 else 0
    if progress_watched():  # the display's total: what this run will read at most
        counts.planned = min(waiting, max(left, 0))
    while left > 0:
        step.budget.check()  # reading the queue takes time too
        queue = customers.detail_queue(
            step.db,
            step.tenant.user_id,
            offsets=policy.all_offsets(),
            basis=policy.basis,
            limit=queue_read_size(waiting, left),
            tried=still_queued,
        )
        if not queue:
            break
        fresh = [queued for queued in queue if (queued[0],) not in tried]
        still_queued += [zoho_id for zoho_id, _ in queue if (zoho_id,) in tried]
        for start in range(0, len(fresh), _BATCH):
            batch = fresh[start : start + _BATCH]
            tried.update((zoho_id,) for zoho_id, _ in batch)
            _fetch_batch(step, batch, counts, logger)
        left -= len(fresh)


def _fetch_batch(
    step: SyncStep[Any], queue: list[tuple[str, str | None]], counts: DetailCounts, logger: Logger
) -> None:
    fetched = _Fetched()

    def take(queued: tuple[str, str | None]) -> None:
        zoho_id, list_hash = queued
        lookup = step.fetch_customer(zoho_id, list_hash)
        if lookup.record is not None:
            fetched.records.append(lookup.record)
        elif lookup.outcome in ("gone", "not a customer"):  # a customer turned vendor is no customer of ours
            fetched.gone.append(zoho_id)
        else:
            fetched.failed.append(zoho_id)
            logger.warning("customer detail unusable; asked again later", extra={"zohoCustomerId": zoho_id,
                           "reason": lookup.problem})  # fmt: skip
        done = (
            counts.fetched
            + counts.failures
            + counts.gone
            + len(fetched.records)
            + len(fetched.gone)
            + len(fetched.failed)
        )
        report_progress(step.service, "details", fetched=done, total=counts.planned, calls=step.client.calls)

    def commit() -> None:
        db, user_id = step.db, step.tenant.user_id
        with db.transaction():
            customers.upsert_page(db, user_id, fetched.records, [])
            counts.gone += customers.soft_delete(db, user_id, fetched.gone)
            customers.detail_failed(db, user_id, fetched.failed)
        counts.fetched += len(fetched.records)
        counts.failures += len(fetched.failed)
        counts.failed_ids += fetched.failed

    each_committing(queue, take, commit)


def fetch_named(step: SyncStep[Any], zoho_ids: list[str], logger: Logger) -> DetailCounts:
    """These customers' details now, whatever the queue says (a webhook named them), committed together."""
    counts = DetailCounts()
    _fetch_batch(step, [(zoho_id, None) for zoho_id in zoho_ids], counts, logger)
    return counts
