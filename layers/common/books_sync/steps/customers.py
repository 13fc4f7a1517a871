"""Customer sync: Zoho contacts → `customers_cache`, list first, change-detected and resumable.

Per page of the contacts list: hash each row and compare with the cached hash. A new or changed
contact is stored at once from its list row (name, the primary person's phone, mobile and email)
and its detail (every person, the payment-reminder setting) is queued: the details are fetched
later, by urgency, within the day's budget (the invoice step's `details` phase). So a new tenant's
whole list costs one call per 200 contacts, and an interruption never throws paid calls away.
Each page is written in one statement together with the checkpoint; unchanged contacts only get
`local_last_synced_at` touched. A periodic reconcile soft-deletes customers Zoho no longer has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from books_sync.errors import ZohoApiError, ZohoNotFound, ZohoProtocolError
from books_sync.records.contacts import CustomerRecord, ListedContact, parse_listed_contact
from books_sync.storage import customers
from books_sync.sync.customers import record_from_list_row
from books_sync.sync.frame import ListScan, SyncStep
from books_sync.sync.scan import Checkpoint
from books_sync.sync.summary import Phase, SyncSummary, count

logger = Logger(service="customer-sync", child=True)

_LOGGED_EXAMPLES = 5


@dataclass
class CustomerSyncSummary(SyncSummary):
    fetched: int = count("CustomersFetched")
    inserted: int = count("CustomersInserted")
    updated: int = count("CustomersUpdated")
    unchanged: int = count("CustomersUnchanged")
    restored: int = count()
    soft_deleted: int = count("CustomersSoftDeleted")
    skipped_invalid: int = count("CustomersSkippedInvalid")
    without_phone: int = count()
    invalid_phones: int = count()
    details_queued: int = count("CustomerDetailsQueued")  # customers whose detail is not read yet
    caught_up: int = count("CustomersCaughtUpByReconcile")  # missing or stale, found by the reconcile's walk


@dataclass
class _ContactsPage:
    """One page's contacts as they are taken: whole records for new/changed, ids for unchanged."""

    sync: CustomerSync
    stored: dict[str, customers.Cached]
    records: dict[str, CustomerRecord] = field(default_factory=dict)
    touch_ids: dict[str, None] = field(default_factory=dict)  # ordered set
    restored: set[str] = field(default_factory=set)  # marked deleted here, but Zoho lists them

    def take(self, row: ListedContact) -> None:
        cached = self.stored.get(row.zoho_id)
        if cached is not None and cached.deleted:
            self.restored.add(row.zoho_id)
        if cached is not None and cached.sync_hash == row.sync_hash:
            self.records.pop(row.zoho_id, None)
            self.touch_ids[row.zoho_id] = None
        else:
            self.touch_ids.pop(row.zoho_id, None)
            self.records[row.zoho_id] = self.sync.listed(row)
        self.sync.summary.fetched += 1

    def write(self, checkpoint: Checkpoint) -> None:
        db, user_id, summary = self.sync.db, self.sync.tenant.user_id, self.sync.summary
        with db.transaction():
            counts = customers.upsert_page(db, user_id, list(self.records.values()), list(self.touch_ids))
            self.sync.save_checkpoint(checkpoint)
        summary.inserted += counts.inserted
        summary.updated += counts.updated
        summary.unchanged += counts.unchanged
        summary.restored += len(self.restored & (self.records.keys() | self.touch_ids.keys()))


PHASES: tuple[Phase, ...] = ("scan", "reconcile", "verify")


class CustomerSync(SyncStep[CustomerSyncSummary], step="customer", summary=CustomerSyncSummary, phases=PHASES):
    def run_phase(self, phase: Phase, checkpoint: Checkpoint) -> None:
        if phase == "scan":
            self.organization()  # asked once up front: a national number needs the organization's country
            self.scan(checkpoint, self._contacts(), self._open_page)
            self.summary.details_queued = customers.waiting_for_detail(self.db, self.tenant.user_id)
        elif phase == "reconcile":
            self.walk_listed_ids(checkpoint, self.client.contacts_by_creation_page, self._catch_up, self._mark_listed)
        elif phase == "verify":
            self._verify(checkpoint)

    # ------------------------------------------------------------------------------ scan

    def _contacts(self) -> ListScan[ListedContact]:
        return ListScan(
            "contact",
            self.client.contacts_page,
            parse_listed_contact,
            "newest_first",
            stalled="no new rows",
            wanted=lambda row: row.is_customer,
        )

    def _open_page(self, rows: list[ListedContact]) -> _ContactsPage:
        return _ContactsPage(self, customers.cached(self.db, self.tenant.user_id, [row.zoho_id for row in rows]))

    def listed(self, row: ListedContact) -> CustomerRecord:
        """The contact as its list row tells it; its detail is queued by the stored hash."""
        record = record_from_list_row(row, self.organization())
        self._count_phone(record)
        return record

    def _count_phone(self, record: CustomerRecord) -> None:
        if record.primary_phone is not None:
            return
        self.summary.without_phone += 1
        if record.phone.rejected:
            self.summary.invalid_phones += 1
            if self.summary.invalid_phones <= _LOGGED_EXAMPLES:
                logger.info(
                    "no valid phone for a customer",
                    extra={"zohoCustomerId": record.zoho_customer_id, "reason": record.phone.problem},
                )

    # ------------------------------------------------------------------------------ reconcile

    def _catch_up(self, rows: list[Any]) -> list[str]:
        """A customer the reconcile's list shows that the cache lacks, or holds with an older time, is
        stored from its row (its detail queued): whatever a pass missed, no extra call. The page's ids."""
        listed = [row for row in map(parse_listed_contact, rows) if not isinstance(row, str) and row.is_customer]
        pairs = [(row.zoho_id, row.modified_at) for row in listed]
        stale = customers.behind(self.db, self.tenant.user_id, pairs, self.window_start())
        if stale:
            records = [self.listed(row) for row in listed if row.zoho_id in stale]
            with self.db.transaction():
                counts = customers.upsert_page(self.db, self.tenant.user_id, records, [])
            self.summary.caught_up += counts.inserted + counts.updated
            logger.warning("the reconcile found customers a pass had missed", extra={"count": len(records)})
        return [row.zoho_id for row in listed]

    def _mark_listed(self, ids: Sequence[str], seen_at: datetime) -> None:
        """Every customer Zoho lists is seen (and un-deleted if it had been marked deleted)."""
        self.summary.restored += customers.mark_seen_in_zoho(self.db, self.tenant.user_id, ids, seen_at)

    def _verify(self, checkpoint: Checkpoint) -> None:
        """Customers the list did not show are checked one by one; only a 404 deletes."""

        def candidates(started: datetime, after: str | None, limit: int) -> list[str]:
            return customers.unseen_since(self.db, self.tenant.user_id, started, limit, after)

        self.verify_unseen(checkpoint, candidates, lambda: _Unseen(self))


@dataclass
class _Unseen:
    """Cached customers missing from Zoho's id list: asked for one by one."""

    sync: CustomerSync
    gone: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)

    def check(self, zoho_id: str) -> None:
        """Only 404/1002 says deleted; any other refusal is unknown: kept, and asked again next reconcile."""
        try:
            self.sync.client.get_contact(zoho_id)
        except ZohoNotFound:
            self.gone.append(zoho_id)
            return
        except (ZohoApiError, ZohoProtocolError) as exc:
            logger.warning("deletion check unanswered; the customer is kept", extra={"zohoCustomerId": zoho_id,
                           "reason": str(exc)})  # fmt: skip
            return  # kept, not seen: asked again at the next reconcile
        self.present.append(zoho_id)

    def write(self, reconcile_started_at: datetime) -> None:
        db, user_id = self.sync.db, self.sync.tenant.user_id
        with db.transaction():
            self.sync.summary.soft_deleted += customers.soft_delete(db, user_id, self.gone)
            customers.mark_seen_in_zoho(db, user_id, self.present, reconcile_started_at)
        if self.gone:
            logger.info("customers deleted in Zoho marked deleted", extra={"count": len(self.gone)})
