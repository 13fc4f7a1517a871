"""The frame both sync steps (customers, invoices) run their phases in.

A run ends in one of three ways: done, paused with its checkpoint saved (`hasMore`), or deferred
because the organization's daily Zoho budget is spent. Deletion reconciles start the same way in
both steps: walk a list of ids page by page, marking what Zoho still has, checkpoint per page.
Only one run per tenant and step at a time: an overlapping call is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from aws_lambda_powertools import Logger

from books_sync.db import Database
from books_sync.errors import DailyBudgetReached
from books_sync.settings import Settings
from books_sync.storage import sync_state
from books_sync.storage.tenants import Tenant
from books_sync.sync.scan import Checkpoint
from books_sync.sync.time_budget import TimeBudget
from books_sync.zoho.client import Page, ZohoClient


def utcnow() -> datetime:
    return datetime.now(UTC)


class StepSummary(Protocol):
    status: str
    has_more: bool
    api_calls: int

    def to_output(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=StepSummary)


class SyncStep(Generic[S]):
    """Subclasses name their `step` and `logger`, and implement `_run` (their phases)."""

    step: ClassVar[sync_state.Step]
    logger: ClassVar[Logger]

    def __init__(
        self,
        db: Database,
        client: ZohoClient,
        tenant: Tenant,
        settings: Settings,
        budget: TimeBudget,
        *,
        summary: S,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.client = client
        self.tenant = tenant
        self.settings = settings
        self.budget = budget
        self.now = now
        self.summary = summary

    def run(self, full_resync: bool) -> S:
        try:
            self._run(full_resync)
        except DailyBudgetReached:
            self.summary.status = "deferred"
            self.summary.has_more = False
            self.logger.warning("daily Zoho call budget reached; the run resumes from its checkpoint next time")
        finally:
            self.summary.api_calls = self.client.calls
        self.logger.info(f"{self.step} sync step done", extra=self.summary.to_output())
        return self.summary

    def _run(self, full_resync: bool) -> None:
        raise NotImplementedError

    def _pause(self, checkpoint: Checkpoint) -> None:
        with self.db.transaction():
            sync_state.save_progress(self.db, self.tenant.user_id, self.step, None, checkpoint.to_json())
        self.summary.has_more = True

    def _walk_listed_ids(
        self,
        checkpoint: Checkpoint,
        fetch_page: Callable[[int], Page],
        mark_seen: Callable[[Sequence[str], datetime], int],
    ) -> tuple[bool, int]:
        """Mark every id Zoho lists as seen at the reconcile's start, page by page from the checkpoint.

        Returns (whether the whole list was read, the sum of what `mark_seen` counted).
        """
        if checkpoint.reconcile_started_at is None:
            checkpoint.reconcile_started_at = self.now()
        counted = 0
        while True:
            if self.budget.should_stop():
                return False, counted
            page = fetch_page(checkpoint.reconcile_page)
            with self.db.transaction():
                marked = mark_seen(page.rows, checkpoint.reconcile_started_at)
                checkpoint.reconcile_page += 1
                if not page.has_more:
                    checkpoint.phase = "verify"
                sync_state.save_progress(self.db, self.tenant.user_id, self.step, None, checkpoint.to_json())
            self.budget.record_progress()
            counted += marked
            if not page.has_more:
                return True, counted


def run_exclusively(db: Database, lock_key: str, logger: Logger, skipped: S, run: Callable[[], S]) -> S:
    """`run()` under the advisory lock `lock_key`; when another run holds it, `skipped` without touching data."""
    with db.locked(lock_key) as taken:
        if not taken:
            logger.info("another run of this step for this tenant is running; skipped", extra={"lock": lock_key})
            return skipped
        return run()
