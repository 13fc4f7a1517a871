"""Invoice sync: Zoho invoices → `invoices_cache`, each linked to its customer, nothing lost.

A run first retries the invoices held back in `invoice_sync_skips` whose wait is over, then reads
the invoice list in passes (by created time: Zoho cannot sort by modification) from its
checkpoint. Per page: one query finds the customers; a customer not in the cache is fetched once
(`GET /contacts/{id}`) and stored; an invoice whose customer Zoho does not have is held back (the
cursor may move on: the skip table keeps it). The page's customers, invoices, held-back invoices
and checkpoint are written in one transaction. The details phase then reads customers' details by
urgency; a periodic reconcile checks the cached open invoices against Zoho's unpaid ones so
deleted invoices stop being open.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from aws_lambda_powertools import Logger

from books_sync.errors import OutOfTime, ZohoApiError, ZohoNotFound, ZohoProtocolError
from books_sync.records.contacts import CustomerRecord
from books_sync.records.invoices import InvoiceRecord, parse_invoice_row
from books_sync.storage import customers, invoice_skips, invoices, reminders, sync_state
from books_sync.storage.invoice_skips import HeldBack
from books_sync.sync.details import DetailCounts, fetch_details_by_urgency
from books_sync.sync.frame import ListScan, SyncStep, each_committing
from books_sync.sync.scan import Checkpoint
from books_sync.sync.summary import Phase, SyncSummary, count
from books_sync.zoho.client import PER_PAGE

logger = Logger(service="invoice-sync", child=True)

_NOT_IN_ZOHO = "customer not found in Zoho"
_UNUSABLE = "customer detail unusable"


@dataclass
class InvoiceSyncSummary(SyncSummary):
    phase: Phase = "skips"
    fetched: int = count("InvoicesFetched")
    inserted: int = count("InvoicesInserted")
    updated: int = count("InvoicesUpdated")
    unchanged: int = count("InvoicesUnchanged")
    skipped_missing_customer: int = count("InvoicesSkippedMissingCustomer")
    customers_fetched_on_demand: int = count("CustomersFetchedOnDemand")
    skips_linked: int = count()
    marked_deleted: int = count("InvoicesMarkedDeleted")
    details_fetched: int = count("CustomerDetailsFetched")
    detail_failures: int = count()
    details_waiting: int = count("CustomerDetailsWaiting")  # customers whose detail is still to read
    caught_up: int = count("InvoicesCaughtUpByReconcile")  # missing or stale, found by the unpaid list's walk


@dataclass
class _Invoices:
    """Invoices as they are taken, each linked to its customer (fetched on demand) or held back."""

    sync: InvoiceSync
    known: dict[str, str]  # Zoho customer id → our customer id, cached before this batch
    listed: bool = False  # rows of the invoice list (counted as fetched)
    seen_at: datetime | None = None  # Zoho showed these rows no earlier than this (None: from our own store)
    fetched: dict[str, CustomerRecord] = field(default_factory=dict)
    linkable: list[InvoiceRecord] = field(default_factory=list)
    held: list[HeldBack] = field(default_factory=list)

    def take(self, record: InvoiceRecord) -> None:
        problem = self._customer_problem(record.zoho_customer_id)
        if problem is None:
            self.linkable.append(record)
        else:
            self.held.append(HeldBack(record.zoho_invoice_id, record.zoho_customer_id, problem, dict(record.row)))
        if self.listed:
            self.sync.summary.fetched += 1

    def look_up(self, customer_ids: Sequence[str]) -> None:
        """Our ids of these customers, where cached; the others Zoho did not give lately wait their turn."""
        db, user_id = self.sync.db, self.sync.tenant.user_id
        self.known.update(customers.ids_by_zoho_id(db, user_id, customer_ids))
        missing = [customer_id for customer_id in customer_ids if customer_id not in self.known]
        for customer_id, reason in invoice_skips.waiting_customers(db, user_id, missing).items():
            self.sync.unavailable.setdefault(customer_id, reason)

    def _customer_problem(self, customer_id: str) -> str | None:
        """None when the customer is cached or fetched now; else why it cannot be had."""
        if customer_id in self.known or customer_id in self.fetched:
            return None
        return self.sync.unavailable.get(customer_id) or self._fetch(customer_id)

    def _fetch(self, customer_id: str) -> str | None:
        """The customer from Zoho into this batch; else why not (remembered for the rest of the run)."""
        lookup = self.sync.fetch_customer(customer_id)
        if lookup.record is not None:
            self.fetched[customer_id] = lookup.record
            self.sync.summary.customers_fetched_on_demand += 1
            return None
        if lookup.outcome == "unusable":
            logger.warning("customer detail unusable", extra={"zohoCustomerId": customer_id, "reason": lookup.problem})
        reason = _NOT_IN_ZOHO if lookup.outcome == "gone" else _UNUSABLE
        self.sync.unavailable[customer_id] = reason
        return reason

    def write(self, checkpoint: Checkpoint | None) -> None:
        """One transaction: fetched customers, linked invoices, held-back invoices, and the checkpoint."""
        sync, db, user_id = self.sync, self.sync.db, self.sync.tenant.user_id
        with db.transaction():
            customers.upsert_page(db, user_id, list(self.fetched.values()), [])
            ids = {**self.known, **customers.ids_by_zoho_id(db, user_id, list(self.fetched))}
            rows = [r.as_row(ids[r.zoho_customer_id]) for r in self.linkable]
            counts = invoices.upsert_page(db, user_id, rows, self.seen_at)
            sync.summary.skips_linked += invoice_skips.clear(db, user_id, [r.zoho_invoice_id for r in self.linkable])
            invoice_skips.record(db, user_id, self.held, sync.started_at)
            if checkpoint is not None:
                sync.save_checkpoint(checkpoint)
        sync.summary.inserted += counts.inserted
        sync.summary.updated += counts.updated
        sync.summary.unchanged += counts.unchanged
        sync.summary.skipped_missing_customer += len(self.held)
        if self.held:
            by_reason: dict[str, int] = {}
            for skip in self.held:
                by_reason[skip.reason] = by_reason.get(skip.reason, 0) + 1
            logger.warning("invoices held back: customer not available", extra={"byReason": by_reason})


PHASES: tuple[Phase, ...] = ("skips", "scan", "details", "reconcile", "verify", "confirm")
SMALL_OPEN_LIST_PAGES = 2  # an unpaid list this short is checked every run: a deleted invoice stops at once
ARRIVED_PER_PHASE = 1000  # held-back invoices whose customer arrived, linked per phase (no Zoho call each)


class InvoiceSync(SyncStep[InvoiceSyncSummary], step="invoice", summary=InvoiceSyncSummary, phases=PHASES):
    # Whether this run confirms, by id, the invoices about to be reminded (the freshen's run does; an
    # hourly run leaves it to the freshen, which runs minutes before they are wanted).
    confirms: ClassVar[bool] = False

    def prepare(self) -> None:
        self.unavailable: dict[str, str] = {}  # customers this run could not get, and why

    def run_phase(self, phase: Phase, checkpoint: Checkpoint) -> None:
        if phase == "skips":
            self._link_arrived()
            self._retry_held_back()
        elif phase == "scan":
            self.scan(checkpoint, self._invoices(), lambda rows: self._batch(rows, listed=True))
            self._link_arrived()  # customers fetched for the list's invoices may be others' too
        elif phase == "details":
            self._details()
            self._link_arrived()
        elif phase == "reconcile":
            self.walk_listed_ids(checkpoint, self.client.open_invoices_page, self._catch_up, self._mark_listed)
            sync_state.save_open_invoice_pages(self.db, self.tenant.user_id, checkpoint.reconcile_page - 1)
        elif phase == "verify":
            self._verify(checkpoint)
        elif phase == "confirm":
            self._confirm(checkpoint)

    def reconcile_due(self, state: sync_state.ScanState, now: datetime) -> bool:
        """Daily; and every run while Zoho's unpaid list is short (at most two pages, or, before it was
        ever read, as many open invoices cached) and reminders are pending: a deleted invoice then
        stops its reminders on the next run."""
        if super().reconcile_due(state, now):
            return True
        pages = state.reconcile_pages
        if pages is None:
            pages = -(-invoices.open_count(self.db, self.tenant.user_id) // PER_PAGE)
        if state.last_reconcile_at is None:
            return False
        if 0 < pages <= SMALL_OPEN_LIST_PAGES:
            return reminders.pending_count(self.db, self.tenant.user_id) > 0
        # the invoices to confirm by id (see `_confirm`) would cost more calls than the walk itself
        return self.confirms and len(self._to_confirm(self.started_at, limit=pages)) >= pages

    def _details(self) -> None:
        """Customer details by urgency, now that the invoices say whose reminders come first."""
        counts = DetailCounts()
        try:
            fetch_details_by_urgency(self, counts, logger)
        finally:  # what was fetched before an interruption is committed and counted
            self.summary.details_fetched += counts.fetched
            self.summary.detail_failures += counts.failures
            self.summary.details_waiting = customers.waiting_for_detail(self.db, self.tenant.user_id)

    def _batch(self, records: Sequence[InvoiceRecord], *, listed: bool = False, seen: bool = False) -> _Invoices:
        batch = _Invoices(self, {}, listed, self.started_at if listed or seen else None)
        batch.look_up([r.zoho_customer_id for r in records])
        return batch

    def _invoices(self) -> ListScan[InvoiceRecord]:
        return ListScan("invoice", self.client.invoices_page, parse_invoice_row, "any")

    def _link_arrived(self) -> None:
        """Invoices held back for a customer now cached link at once, whatever their wait (no Zoho call)."""
        self._link(invoice_skips.arrived(self.db, self.tenant.user_id, ARRIVED_PER_PHASE))

    def _retry_held_back(self) -> None:
        """Invoices held back whose wait is over: link the ones whose customer Zoho now gives."""
        self._link(invoice_skips.pending(self.db, self.tenant.user_id, self.settings.skip_retry_limit))

    def _link(self, skips: Sequence[invoice_skips.Skip]) -> None:
        records = [r for r in (parse_invoice_row(skip.invoice) for skip in skips) if isinstance(r, InvoiceRecord)]
        if not records:
            return
        batch = self._batch(records)
        with suppress(OutOfTime):  # what was linked is saved; the next phase pauses at once
            each_committing(records, batch.take, lambda: batch.write(None))
        logger.info("held-back invoices tried", extra={"tried": len(records), "stillHeldBack": len(batch.held)})

    # ------------------------------------------------------------------------------ reconcile

    def _catch_up(self, rows: list[Any]) -> list[str]:
        """An unpaid invoice the cache lacks, or holds with an older time, is stored from its row (whatever
        a pass missed; its customer fetched if need be, as in the scan). The page's ids."""
        listed = [row for row in map(parse_invoice_row, rows) if isinstance(row, InvoiceRecord)]
        pairs = [(r.zoho_invoice_id, r.modified_at) for r in listed]
        stale = invoices.behind(self.db, self.tenant.user_id, pairs, self.window_start())
        records = [record for record in listed if record.zoho_invoice_id in stale]
        if records:
            batch = self._batch(records, seen=True)
            each_committing(records, batch.take, lambda: batch.write(None))
            self.summary.caught_up += len(batch.linkable)
            logger.warning("the reconcile found invoices a pass had missed", extra={"count": len(records)})
        return [record.zoho_invoice_id for record in listed]

    def _mark_listed(self, ids: Sequence[str], seen_at: datetime) -> None:
        """Every cached invoice Zoho lists as unpaid is seen open."""
        invoices.mark_seen_open(self.db, self.tenant.user_id, ids, seen_at)

    def _verify(self, checkpoint: Checkpoint) -> None:
        """Open here but not unpaid in Zoho: fetch each; a 404 marks it deleted, else it is refreshed."""

        def candidates(started: datetime, after: str | None, limit: int) -> list[str]:
            return invoices.open_unseen_since(self.db, self.tenant.user_id, started, limit, after)

        self.verify_unseen(checkpoint, candidates, lambda: _NotListedOpen(self, self._batch([], seen=True)))

    # ------------------------------------------------------------------------------ confirm

    def read_by_id(self, zoho_ids: Sequence[str], seen_at: datetime) -> list[str]:
        """These invoices read from Zoho one by one and applied as a list page would be (a 404 marks one
        deleted); those Zoho answered are marked seen at `seen_at`. Returns the ids it could not read."""
        batch = _NotListedOpen(self, self._batch([], seen=True))
        for zoho_id in zoho_ids:
            batch.check(zoho_id)
        batch.write(seen_at)
        return batch.unanswered

    def _to_confirm(self, seen_before: datetime, limit: int) -> list[str]:
        within = sync_state.freshness(self.db, self.tenant.user_id) + self.settings.freshen_lookahead
        return reminders.invoices_to_confirm(
            self.db, self.tenant.user_id, within=within, seen_before=seen_before, limit=limit
        )

    def _confirm(self, checkpoint: Checkpoint) -> None:
        """A deletion shows in no list: open invoices with a reminder wanted before this run's confirmation
        goes stale, and not shown by Zoho since the run began, are read by id (a 404 marks them deleted)."""
        if not self.confirms:
            return

        def candidates(started: datetime, _after: str | None, limit: int) -> list[str]:
            return self._to_confirm(started, limit)  # by urgency: `after` does not apply

        self.verify_unseen(
            checkpoint,
            candidates,
            lambda: _NotListedOpen(self, self._batch([], seen=True)),
            since=checkpoint.started_at,
            keyed=False,
        )


@dataclass
class _NotListedOpen:
    """Invoices open here that Zoho did not show lately (its unpaid list, a list page): asked for one by one.

    Only an answer counts: a 404 marks the invoice deleted; a usable record is stored and marked seen; a
    refusal or an unusable answer leaves it unseen (never confirmed), to be asked again later.
    """

    sync: InvoiceSync
    current: _Invoices
    gone: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)

    def check(self, zoho_id: str) -> None:
        try:
            record = parse_invoice_row(self.sync.client.get_invoice(zoho_id))
        except ZohoNotFound:
            self.gone.append(zoho_id)
        except (ZohoApiError, ZohoProtocolError) as exc:
            self.unanswered.append(zoho_id)
            logger.warning("invoice check unanswered; the invoice stays unconfirmed", extra={"zohoInvoiceId": zoho_id,
                           "reason": str(exc)})  # fmt: skip
        else:
            if isinstance(record, InvoiceRecord) and record.zoho_invoice_id == zoho_id:
                self.current.look_up([record.zoho_customer_id])
                self.current.take(record)
            else:
                self.unanswered.append(zoho_id)
                logger.warning("invoice detail unusable", extra={"zohoInvoiceId": zoho_id, "reason": record})

    def write(self, seen_at: datetime) -> None:
        db, user_id, summary = self.sync.db, self.sync.tenant.user_id, self.sync.summary
        self.current.write(None)
        with db.transaction():
            invoices.mark_seen_open(db, user_id, [r.zoho_invoice_id for r in self.current.linkable], seen_at)
            summary.marked_deleted += invoices.mark_deleted(db, user_id, self.gone)
        if self.gone:
            logger.info("invoices deleted in Zoho marked deleted", extra={"count": len(self.gone)})


class ConfirmingInvoiceSync(InvoiceSync, step="invoice", summary=InvoiceSyncSummary, phases=PHASES):
    """The invoice step as the freshen runs it: it also confirms, by id, the invoices about to be reminded."""

    confirms = True
