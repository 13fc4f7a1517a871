"""Invoice sync: Zoho invoices → `invoices_cache`, each linked to its customer, nothing lost.

A run first retries the invoices held back in `invoice_sync_skips`, then walks the invoice list
(oldest change first) from its checkpoint. Per page: one query finds the customers; a customer not
in the cache is fetched once (`GET /contacts/{id}`) and stored; an invoice whose customer Zoho does
not have is recorded as a skip (the cursor may move on: the skip table keeps it). The page's
customers, invoices, skips and checkpoint are written in one transaction. A periodic reconcile
checks the cached open invoices against Zoho's unpaid ones so deleted invoices stop being open.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from books_sync.db import Database
from books_sync.errors import DailyBudgetReached, ZohoApiError, ZohoNotFound, ZohoProtocolError
from books_sync.records.contacts import CustomerRecord, record_from_detail
from books_sync.records.invoices import InvoiceRecord, parse_invoice_row
from books_sync.settings import Settings
from books_sync.storage import customers, invoice_skips, invoices, sync_state
from books_sync.storage.tenants import Tenant
from books_sync.sync.frame import SyncStep, run_exclusively, utcnow
from books_sync.sync.organization import ensure_organization_profile
from books_sync.sync.scan import Checkpoint, PageFilter, start_or_resume
from books_sync.sync.time_budget import TimeBudget
from books_sync.zoho.client import ZohoClient

logger = Logger(service="invoice-sync", child=True)

_VERIFY_BATCH = 50
_NOT_IN_ZOHO = "customer not found in Zoho"
_UNUSABLE = "customer detail unusable"


@dataclass
class InvoiceSyncSummary:
    user_id: str
    status: str = "ok"  # ok | skipped | deferred
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_missing_customer: int = 0
    customers_fetched_on_demand: int = 0
    skips_linked: int = 0
    skipped_invalid: int = 0
    marked_deleted: int = 0
    api_calls: int = 0
    has_more: bool = False
    phase: str = "skips"

    def to_output(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "status": self.status,
            "fetched": self.fetched,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skippedMissingCustomer": self.skipped_missing_customer,
            "customersFetchedOnDemand": self.customers_fetched_on_demand,
            "skipsLinked": self.skips_linked,
            "skippedInvalid": self.skipped_invalid,
            "markedDeleted": self.marked_deleted,
            "apiCalls": self.api_calls,
            "hasMore": self.has_more,
            "phase": self.phase,
        }

    def metrics(self) -> dict[str, int]:
        return {
            "InvoicesFetched": self.fetched,
            "InvoicesInserted": self.inserted,
            "InvoicesUpdated": self.updated,
            "InvoicesUnchanged": self.unchanged,
            "InvoicesSkippedMissingCustomer": self.skipped_missing_customer,
            "CustomersFetchedOnDemand": self.customers_fetched_on_demand,
            "InvoicesMarkedDeleted": self.marked_deleted,
            "ZohoApiCalls": self.api_calls,
        }


@dataclass
class _Linking:
    """The outcome of finding the customers of a batch of invoices."""

    known: dict[str, str] = field(default_factory=dict)  # Zoho customer id → our id, cached before the fetches
    skips: list[dict[str, Any]] = field(default_factory=list)
    fetched_customers: list[CustomerRecord] = field(default_factory=list)
    deferred: set[str] = field(default_factory=set)  # customers not asked for: out of time or daily budget
    stop: BaseException | None = None  # DailyBudgetReached met while fetching customers


class InvoiceSync(SyncStep[InvoiceSyncSummary]):
    step = "invoice"
    logger = logger

    def __init__(
        self,
        db: Database,
        client: ZohoClient,
        tenant: Tenant,
        settings: Settings,
        budget: TimeBudget,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(
            db, client, tenant, settings, budget, summary=InvoiceSyncSummary(user_id=tenant.user_id), now=now
        )
        self._org_profile: tuple[str | None, str | None] | None = None
        self._unavailable: dict[str, str] = {}  # customers this run could not get, and why
        self._started_at = now()

    def _run(self, full_resync: bool) -> None:
        state = sync_state.load(self.db, self.tenant.user_id, "invoice")
        now = self.now()
        interval = timedelta(hours=self.settings.invoice_reconcile_interval_hours)
        due = state.last_reconcile_at is None or now - state.last_reconcile_at >= interval
        checkpoint, resumed = start_or_resume(
            state.checkpoint,
            cursor=state.cursor,
            window_days=state.window_days,
            overlap_seconds=self.settings.cursor_overlap_seconds,
            full_resync=full_resync,
            reconcile=due and invoices.count(self.db, self.tenant.user_id) > 0,
            first_phase="skips",
            now=now,
        )
        if resumed:
            logger.info("resuming invoice sync", extra={"phase": checkpoint.phase})
        if checkpoint.phase == "skips":
            self._retry_skips()
            checkpoint.phase = "scan"
        if checkpoint.phase == "scan":
            self.summary.phase = "scan"
            if not self._scan(checkpoint):
                return self._pause(checkpoint)
            checkpoint.phase = "reconcile" if checkpoint.reconcile else "done"
        if checkpoint.phase == "reconcile":
            self.summary.phase = "reconcile"
            if not self._reconcile_list(checkpoint):
                return self._pause(checkpoint)
            checkpoint.phase = "verify"
        if checkpoint.phase == "verify":
            self.summary.phase = "verify"
            if not self._reconcile_verify(checkpoint):
                return self._pause(checkpoint)
        reconciled_at = checkpoint.reconcile_started_at
        if reconciled_at is None and state.last_reconcile_at is None and due:
            reconciled_at = checkpoint.started_at  # nothing was cached: the first scan is the baseline
        with self.db.transaction():
            sync_state.finish(self.db, self.tenant.user_id, "invoice", reconciled_at)
        self.summary.phase = "done"
        return None

    # ------------------------------------------------------------------------------ linking

    def _organization(self) -> tuple[str | None, str | None]:
        if self._org_profile is None:
            self._org_profile = ensure_organization_profile(self.db, self.client, self.tenant)
        return self._org_profile

    def _link(self, records: Sequence[InvoiceRecord]) -> _Linking:
        """Find each invoice's customer: one query for the batch, one fetch per missing customer."""
        known = customers.ids_by_zoho_id(self.db, self.tenant.user_id, [r.zoho_customer_id for r in records])
        out = _Linking(known=known)
        missing = list(dict.fromkeys(r.zoho_customer_id for r in records if r.zoho_customer_id not in known))
        reasons: dict[str, str] = {}
        for zoho_customer_id in missing:
            if zoho_customer_id in self._unavailable:
                reasons[zoho_customer_id] = self._unavailable[zoho_customer_id]  # asked already this run
                continue
            if out.stop is not None or self.budget.should_stop():
                out.deferred.add(zoho_customer_id)
                continue
            try:
                country, timezone = self._organization()
                detail = self.client.get_contact(zoho_customer_id)
                out.fetched_customers.append(record_from_detail(detail, org_country=country, org_timezone=timezone))
                self.summary.customers_fetched_on_demand += 1
            except ZohoNotFound:
                reasons[zoho_customer_id] = self._unavailable[zoho_customer_id] = _NOT_IN_ZOHO
            except (ZohoProtocolError, ZohoApiError, ValueError) as exc:
                reasons[zoho_customer_id] = self._unavailable[zoho_customer_id] = _UNUSABLE
                logger.warning(
                    "customer detail unusable", extra={"zohoCustomerId": zoho_customer_id, "reason": str(exc)}
                )
            except DailyBudgetReached as exc:
                out.stop = exc
                out.deferred.add(zoho_customer_id)
            self.budget.record_progress()
        for record in records:
            if record.zoho_customer_id in reasons:
                out.skips.append({
                    "zoho_invoice_id": record.zoho_invoice_id,
                    "zoho_customer_id": record.zoho_customer_id,
                    "reason": reasons[record.zoho_customer_id],
                    "invoice": dict(record.row),
                })  # fmt: skip
        return out

    def _write(self, records: Sequence[InvoiceRecord], linking: _Linking, checkpoint: Checkpoint | None) -> None:
        """One transaction: fetched customers, linked invoices, skips, and the checkpoint."""
        with self.db.transaction():
            if linking.fetched_customers:
                customers.upsert_page(self.db, self.tenant.user_id, [c.as_row() for c in linking.fetched_customers], [])
            skipped = {skip["zoho_invoice_id"] for skip in linking.skips}
            linkable = [r for r in records if r.zoho_invoice_id not in skipped]
            # Only the customers fetched just now need their new ids looked up.
            fetched = [c.zoho_customer_id for c in linking.fetched_customers]
            ids = {**linking.known, **customers.ids_by_zoho_id(self.db, self.tenant.user_id, fetched)}
            rows = [r.as_row(ids[r.zoho_customer_id]) for r in linkable]
            counts = invoices.upsert_page(self.db, self.tenant.user_id, rows)
            self.summary.skips_linked += invoice_skips.clear(
                self.db, self.tenant.user_id, [r.zoho_invoice_id for r in linkable]
            )
            invoice_skips.record(self.db, self.tenant.user_id, linking.skips, self._started_at)
            if checkpoint is not None:
                cursor = checkpoint.position.since
                sync_state.save_progress(self.db, self.tenant.user_id, "invoice", cursor, checkpoint.to_json())
        self.budget.record_progress()
        self.summary.inserted += counts.inserted
        self.summary.updated += counts.updated
        self.summary.unchanged += counts.unchanged
        self.summary.skipped_missing_customer += len(linking.skips)
        if linking.skips:
            by_reason: dict[str, int] = {}
            for skip in linking.skips:
                by_reason[skip["reason"]] = by_reason.get(skip["reason"], 0) + 1
            logger.warning("invoices held back: customer not available", extra={"byReason": by_reason})

    # ------------------------------------------------------------------------------ skips

    def _retry_skips(self) -> None:
        """Invoices held back before: link the ones whose customer is now cached or fetchable."""
        skips = invoice_skips.pending(self.db, self.tenant.user_id, self.settings.skip_retry_limit)
        if not skips:
            return
        records = [r for r in (parse_invoice_row(skip.invoice) for skip in skips) if isinstance(r, InvoiceRecord)]
        linking = self._link(records)
        self._write([r for r in records if r.zoho_customer_id not in linking.deferred], linking, None)
        logger.info("retried held-back invoices", extra={"retried": len(records), "stillHeldBack": len(linking.skips)})
        if linking.stop is not None:
            raise linking.stop

    # ------------------------------------------------------------------------------ scan

    def _scan(self, checkpoint: Checkpoint) -> bool:
        """Walk the list from the checkpoint; True when the end was reached."""
        rows_filter = PageFilter[InvoiceRecord]("invoices.list", lambda row: (row.zoho_invoice_id, row.modified_at))
        while True:
            if self.budget.should_stop():
                return False
            position = checkpoint.position
            page = self.client.invoices_page(position.since, position.page)
            fresh = rows_filter.fresh(position, [parse_invoice_row(row) for row in page.rows])
            if fresh.repeated:
                logger.warning("an invoices page repeats rows; each row is used once", extra={
                    "page": page.page, "repeated": fresh.repeated})  # fmt: skip
            valid: list[InvoiceRecord] = []
            for row in fresh.rows:
                if isinstance(row, str):
                    self.summary.skipped_invalid += 1
                    logger.warning("skipping an invoice row", extra={"reason": row})
                else:
                    valid.append(row)
            if not valid and page.has_more:
                raise ZohoProtocolError(
                    "invoices.list",
                    f"page {page.page} brought no usable new rows{fresh.repeats_note}; the list is not advancing",
                )
            linking = self._link(valid)
            if linking.deferred:
                # Out of time (or budget) before every customer was fetched: commit the page up to the
                # first invoice still waiting for its customer; the next call resumes right there.
                cut = next(i for i, r in enumerate(valid) if r.zoho_customer_id in linking.deferred)
                valid = valid[:cut]
                kept = {r.zoho_invoice_id for r in valid}
                linking.skips = [skip for skip in linking.skips if skip["zoho_invoice_id"] in kept]
            for row in valid:
                position = position.after(row.modified_at)
            self.summary.fetched += len(valid)
            if valid:
                checkpoint.position = position
                self._write(valid, linking, checkpoint)
            if linking.stop is not None:
                raise linking.stop
            if linking.deferred:
                return False
            if not page.has_more:
                return True

    # ------------------------------------------------------------------------------ reconcile

    def _reconcile_list(self, checkpoint: Checkpoint) -> bool:
        """Mark every cached invoice Zoho lists as unpaid; True when the whole list was read."""
        finished, _ = self._walk_listed_ids(
            checkpoint,
            self.client.open_invoice_ids_page,
            lambda ids, seen_at: invoices.mark_seen_open(self.db, self.tenant.user_id, ids, seen_at),
        )
        return finished

    def _reconcile_verify(self, checkpoint: Checkpoint) -> bool:
        """Open here but not unpaid in Zoho: fetch each; a 404 marks it deleted, else it is refreshed."""
        started = checkpoint.reconcile_started_at
        assert started is not None
        while True:
            candidates = invoices.open_unseen_since(self.db, self.tenant.user_id, started, _VERIFY_BATCH)
            if not candidates:
                return True
            gone: list[str] = []
            current: list[InvoiceRecord] = []
            checked: list[str] = []
            stopped = False
            for zoho_id in candidates:
                if self.budget.should_stop():
                    stopped = True
                    break
                try:
                    record = parse_invoice_row(self.client.get_invoice(zoho_id))
                    if isinstance(record, InvoiceRecord) and record.zoho_invoice_id == zoho_id:
                        current.append(record)
                    else:
                        logger.warning("invoice detail unusable", extra={"zohoInvoiceId": zoho_id, "reason": record})
                except ZohoNotFound:
                    gone.append(zoho_id)
                checked.append(zoho_id)
                self.budget.record_progress()
            linking = self._link(current)
            self._write([r for r in current if r.zoho_customer_id not in linking.deferred], linking, None)
            waiting = {r.zoho_invoice_id for r in current if r.zoho_customer_id in linking.deferred}
            checked = [zoho_id for zoho_id in checked if zoho_id not in waiting]
            stopped = stopped or bool(waiting)
            with self.db.transaction():
                invoices.mark_seen_open(self.db, self.tenant.user_id, checked, started)
                self.summary.marked_deleted += invoices.mark_deleted(self.db, self.tenant.user_id, gone)
            if gone:
                logger.info("invoices deleted in Zoho marked deleted", extra={"count": len(gone)})
            if linking.stop is not None:
                raise linking.stop
            if stopped:
                return False


def run_invoice_sync(
    db: Database,
    tenant: Tenant,
    settings: Settings,
    *,
    full_resync: bool,
    budget: TimeBudget,
    client: ZohoClient | None = None,
) -> InvoiceSyncSummary:
    """One invocation for one tenant, under the tenant's invoice-sync lock (overlaps are skipped)."""
    return run_exclusively(
        db,
        f"invoice-sync:{tenant.user_id}",
        logger,
        InvoiceSyncSummary(user_id=tenant.user_id, status="skipped"),
        lambda: InvoiceSync(db, client or ZohoClient(db, tenant, settings=settings), tenant, settings, budget).run(
            full_resync
        ),
    )
