"""Customer sync: Zoho contacts → `customers_cache`, incremental, change-detected and resumable.

Per page of the contacts list (oldest change first): hash each row, compare with the cached hash,
fetch the detail (all contact persons) only for new or changed contacts, then write the page in
one statement together with the checkpoint, in one transaction. Unchanged contacts only get their
`local_last_synced_at` touched. A periodic reconcile soft-deletes customers Zoho no longer has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from books_sync.db import Database
from books_sync.errors import DailyBudgetReached, ZohoApiError, ZohoNotFound, ZohoProtocolError
from books_sync.records.contacts import (
    CustomerRecord,
    ListedContact,
    customer_record,
    parse_listed_contact,
    record_from_detail,
)
from books_sync.settings import Settings
from books_sync.storage import customers, sync_state
from books_sync.storage.tenants import Tenant
from books_sync.sync.frame import SyncStep, run_exclusively, utcnow
from books_sync.sync.organization import ensure_organization_profile
from books_sync.sync.scan import Checkpoint, PageFilter, ScanPosition, start_or_resume
from books_sync.sync.time_budget import TimeBudget
from books_sync.zoho.client import ZohoClient

logger = Logger(service="customer-sync", child=True)

_VERIFY_BATCH = 50
_LOGGED_EXAMPLES = 5


@dataclass
class CustomerSyncSummary:
    user_id: str
    status: str = "ok"  # ok | skipped | deferred
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    restored: int = 0
    soft_deleted: int = 0
    details_fetched: int = 0
    detail_failures: int = 0
    skipped_invalid: int = 0
    without_phone: int = 0
    invalid_phones: int = 0
    api_calls: int = 0
    has_more: bool = False
    phase: str = "scan"

    def to_output(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "status": self.status,
            "fetched": self.fetched,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "restored": self.restored,
            "softDeleted": self.soft_deleted,
            "detailsFetched": self.details_fetched,
            "detailFailures": self.detail_failures,
            "skippedInvalid": self.skipped_invalid,
            "withoutPhone": self.without_phone,
            "invalidPhones": self.invalid_phones,
            "apiCalls": self.api_calls,
            "hasMore": self.has_more,
            "phase": self.phase,
        }

    def metrics(self) -> dict[str, int]:
        return {
            "CustomersFetched": self.fetched,
            "CustomersInserted": self.inserted,
            "CustomersUpdated": self.updated,
            "CustomersUnchanged": self.unchanged,
            "CustomersSoftDeleted": self.soft_deleted,
            "CustomersSkippedInvalid": self.skipped_invalid,
            "ZohoApiCalls": self.api_calls,
        }


@dataclass
class _PageResult:
    records: dict[str, CustomerRecord] = field(default_factory=dict)
    touch_ids: dict[str, None] = field(default_factory=dict)  # ordered set
    restored: dict[str, None] = field(default_factory=dict)  # marked deleted here, but Zoho has them
    position: ScanPosition | None = None
    done: int = 0  # rows of the page processed (a prefix)
    stop: str | None = None  # "time" | "budget"
    error: BaseException | None = None


class CustomerSync(SyncStep[CustomerSyncSummary]):
    step = "customer"
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
            db, client, tenant, settings, budget, summary=CustomerSyncSummary(user_id=tenant.user_id), now=now
        )
        self._org_country = tenant.organization_country_code
        self._org_timezone = tenant.organization_timezone
        self._phone_examples: list[str] = []

    # ------------------------------------------------------------------------------ run

    def _run(self, full_resync: bool) -> None:
        state = sync_state.load(self.db, self.tenant.user_id, "customer")
        checkpoint = self._resume_or_start(state, full_resync)
        if checkpoint.phase == "scan":
            self._org_country, self._org_timezone = ensure_organization_profile(self.db, self.client, self.tenant)
            if not self._scan(checkpoint):
                return self._pause(checkpoint)
            checkpoint.phase = "repair"
        if checkpoint.phase == "repair":
            self.summary.phase = "repair"
            if not self._repair():
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
        if not checkpoint.reconcile and state.last_reconcile_at is None:
            # The scan began on an empty cache (else it would reconcile): nothing can be stale, however
            # many hasMore calls the first sync took.
            reconciled_at = checkpoint.started_at
        with self.db.transaction():
            sync_state.finish(self.db, self.tenant.user_id, "customer", reconciled_at)
        self.summary.phase = "done"
        return None

    def _resume_or_start(self, state: sync_state.ScanState, full_resync: bool) -> Checkpoint:
        now = self.now()
        if full_resync or state.last_reconcile_at is None:
            # a first sync into an empty cache has nothing stale to find
            reconcile = full_resync or customers.count(self.db, self.tenant.user_id) > 0
        else:
            reconcile = now - state.last_reconcile_at >= timedelta(days=self.settings.customer_reconcile_interval_days)
        checkpoint, resumed = start_or_resume(
            state.checkpoint,
            cursor=state.cursor,
            window_days=state.window_days,
            overlap_seconds=self.settings.cursor_overlap_seconds,
            full_resync=full_resync,
            reconcile=reconcile,
            first_phase="scan",
            now=now,
        )
        if resumed:
            logger.info("resuming customer sync", extra={"phase": checkpoint.phase})
        return checkpoint

    # ------------------------------------------------------------------------------ scan

    def _scan(self, checkpoint: Checkpoint) -> bool:
        """Walk the list from the checkpoint; True when the end was reached."""
        rows_filter = PageFilter[ListedContact]("contacts.list", lambda row: (row.zoho_id, row.modified_at))
        while True:
            if self.budget.should_stop():
                return False
            position = checkpoint.position
            page = self.client.contacts_page(position.since, position.page)
            fresh = rows_filter.fresh(position, [parse_listed_contact(row) for row in page.rows])
            if fresh.repeated:
                logger.warning("a contacts page repeats rows; each row is used once", extra={
                    "page": page.page, "repeated": fresh.repeated})  # fmt: skip
            result = self._process(fresh.rows, position)
            self._commit(checkpoint, result)
            if result.error is not None:
                raise result.error
            if result.stop == "budget":
                raise DailyBudgetReached("contacts.get", "daily budget reached mid-page")
            if result.stop == "time":
                return False
            if not page.has_more:
                return True
            if checkpoint.position == position:
                raise ZohoProtocolError(
                    "contacts.list",
                    f"page {page.page} brought no new rows{fresh.repeats_note}; the list is not advancing",
                )

    def _process(self, rows: list[ListedContact | str], position: ScanPosition) -> _PageResult:
        result = _PageResult(position=position)
        valid = [row for row in rows if isinstance(row, ListedContact)]
        try:
            stored = customers.cached(self.db, self.tenant.user_id, [row.zoho_id for row in valid])
            for index, row in enumerate(rows):
                if isinstance(row, str):
                    self.summary.skipped_invalid += 1
                    logger.warning("skipping a contact row", extra={"reason": row})
                    result.done = index + 1
                    continue
                self.summary.fetched += 1
                cached = stored.get(row.zoho_id)
                if cached is not None and cached.deleted:
                    result.restored[row.zoho_id] = None
                if cached is not None and cached.sync_hash == row.sync_hash:
                    result.records.pop(row.zoho_id, None)
                    result.touch_ids[row.zoho_id] = None
                else:
                    if self.budget.should_stop():
                        result.stop = "time"
                        self.summary.fetched -= 1
                        return result
                    record = self._fetch(row)
                    result.touch_ids.pop(row.zoho_id, None)
                    if record is not None:
                        result.records[row.zoho_id] = record
                assert result.position is not None
                result.position = result.position.after(row.modified_at)
                result.done = index + 1
        except DailyBudgetReached:
            result.stop = "budget"
        except Exception as exc:  # noqa: BLE001 - committed below, then re-raised
            result.error = exc
        return result

    def _fetch(self, row: ListedContact) -> CustomerRecord | None:
        """The contact with all its persons; a list-row fallback when the detail is unusable."""
        try:
            detail = self.client.get_contact(row.zoho_id)
            self.summary.details_fetched += 1
            self.budget.record_progress()
            if str(detail.get("contact_id")) != row.zoho_id:
                raise ZohoProtocolError("contacts.get", "the detail is for another contact")
            record = customer_record(
                detail,
                sync_hash=row.sync_hash,
                modified_at=row.modified_at,
                org_country=self._org_country,
                org_timezone=self._org_timezone,
            )
        except ZohoNotFound:
            logger.info("contact vanished between list and detail", extra={"zohoCustomerId": row.zoho_id})
            return None
        except (ZohoProtocolError, ZohoApiError, ValueError) as exc:
            # Keep the customer from its list row (persons unknown, no hash: the detail is tried next run).
            self.summary.detail_failures += 1
            logger.warning("contact detail unusable; stored from the list row", extra={
                "zohoCustomerId": row.zoho_id, "reason": str(exc)})  # fmt: skip
            record = customer_record(
                row.row,
                sync_hash=None,
                modified_at=row.modified_at,
                org_country=self._org_country,
                org_timezone=self._org_timezone,
                persons_known=False,
            )
        if record.primary_phone is None:
            self.summary.without_phone += 1
            if record.phone.rejected:
                self.summary.invalid_phones += 1
                if len(self._phone_examples) < _LOGGED_EXAMPLES:
                    self._phone_examples.append(row.zoho_id)
                    logger.info("no valid phone for a customer", extra={
                        "zohoCustomerId": row.zoho_id, "reason": record.phone.problem})  # fmt: skip
        return record

    def _commit(self, checkpoint: Checkpoint, result: _PageResult) -> None:
        if not result.records and not result.touch_ids and result.position == checkpoint.position:
            return
        assert result.position is not None
        checkpoint.position = result.position
        with self.db.transaction():
            counts = customers.upsert_page(
                self.db,
                self.tenant.user_id,
                [record.as_row() for record in result.records.values()],
                list(result.touch_ids),
            )
            sync_state.save_progress(
                self.db, self.tenant.user_id, "customer", checkpoint.position.since, checkpoint.to_json()
            )
        self.budget.record_progress()
        self.summary.inserted += counts.inserted
        self.summary.updated += counts.updated
        self.summary.unchanged += counts.unchanged
        self.summary.restored += sum(
            1 for zoho_id in result.restored if zoho_id in result.records or zoho_id in result.touch_ids
        )

    # ------------------------------------------------------------------------------ repair

    def _repair(self) -> bool:
        """Fetch again the details that failed before (bounded per run); False when time ran out."""
        wanted = customers.without_detail(self.db, self.tenant.user_id, self.settings.skip_retry_limit)
        records: list[CustomerRecord] = []
        gone: list[str] = []
        finished = True
        for zoho_id in wanted:
            if self.budget.should_stop():
                finished = False
                break
            try:
                detail = self.client.get_contact(zoho_id)
                records.append(
                    record_from_detail(detail, org_country=self._org_country, org_timezone=self._org_timezone)
                )
                self.summary.details_fetched += 1
            except ZohoNotFound:
                gone.append(zoho_id)
            except (ZohoProtocolError, ZohoApiError, ValueError) as exc:
                self.summary.detail_failures += 1
                logger.warning("contact detail still unusable", extra={"zohoCustomerId": zoho_id, "reason": str(exc)})
            self.budget.record_progress()
        if records or gone:
            with self.db.transaction():
                counts = customers.upsert_page(self.db, self.tenant.user_id, [r.as_row() for r in records], [])
                self.summary.soft_deleted += customers.soft_delete(self.db, self.tenant.user_id, gone)
            self.summary.updated += counts.updated
        return finished

    # ------------------------------------------------------------------------------ reconcile

    def _reconcile_list(self, checkpoint: Checkpoint) -> bool:
        """Mark every customer Zoho lists as seen (un-deleting returners); True when the whole list was read."""
        finished, restored = self._walk_listed_ids(
            checkpoint,
            self.client.contact_ids_page,
            lambda ids, seen_at: customers.mark_seen_in_zoho(self.db, self.tenant.user_id, ids, seen_at),
        )
        self.summary.restored += restored
        return finished

    def _reconcile_verify(self, checkpoint: Checkpoint) -> bool:
        """Customers the list did not show are checked one by one; only a 404 deletes."""
        started = checkpoint.reconcile_started_at
        assert started is not None
        while True:
            candidates = customers.unseen_since(self.db, self.tenant.user_id, started, _VERIFY_BATCH)
            if not candidates:
                return True
            gone: list[str] = []
            present: list[str] = []
            stopped = False
            for zoho_id in candidates:
                if self.budget.should_stop():
                    stopped = True
                    break
                try:
                    self.client.get_contact(zoho_id)
                    present.append(zoho_id)
                except ZohoNotFound:
                    gone.append(zoho_id)
                self.budget.record_progress()
            with self.db.transaction():
                self.summary.soft_deleted += customers.soft_delete(self.db, self.tenant.user_id, gone)
                customers.mark_seen_in_zoho(self.db, self.tenant.user_id, present, started)
            if gone:
                logger.info("customers deleted in Zoho marked deleted", extra={"count": len(gone)})
            if stopped:
                return False


def run_customer_sync(
    db: Database,
    tenant: Tenant,
    settings: Settings,
    *,
    full_resync: bool,
    budget: TimeBudget,
    client: ZohoClient | None = None,
) -> CustomerSyncSummary:
    """One invocation for one tenant, under the tenant's customer-sync lock (overlaps are skipped)."""
    return run_exclusively(
        db,
        f"customer-sync:{tenant.user_id}",
        logger,
        CustomerSyncSummary(user_id=tenant.user_id, status="skipped"),
        lambda: CustomerSync(db, client or ZohoClient(db, tenant, settings=settings), tenant, settings, budget).run(
            full_resync
        ),
    )
