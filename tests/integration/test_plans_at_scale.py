"""What one page's statements read on a large new tenant whose statistics are stale (as they are right
after its first sync; or on a fleet database where the statistics know only the tenants there before
it): rows in proportion to the page, never to the tenant. A plan that reads the tenant for each page
makes a pass quadratic: the previous statements read 100,000 rows per page at 100,000 customers, so 50
million for the 500 pages of one pass."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from books_sync.db import Database
from books_sync.records.contacts import CustomerRecord, customer_record
from books_sync.storage import customers, invoice_skips, invoices, reminders
from books_sync.storage.lookups import each_cached
from books_sync.storage.upserts import UpsertCounts
from tests.plans import ANALYZED, add_analyzed_tenants, add_stale_tenant, rows_read

N_CUSTOMERS, N_INVOICES, N_SKIPS = 20_000, 40_000, 10_000
RETRY_DUE = range(5_000, 5_010)  # held-back invoices of the page whose retry is due: their customers are asked for
PERSONS = '[{"contact_person_id": "p1", "is_primary_contact": true}]'  # what a detail stored
PAGE = 200
BOUND = 15 * PAGE  # a few lookups per row of the page (an index entry and a row, per table); the tenant is 60,000


@pytest.fixture(params=["new database", "fleet database"])
def tenant(db: Database, request: pytest.FixtureRequest) -> str:
    """The large tenant, with invoices held back for a customer; beside it, a small one whose customers,
    invoices and held-back invoices have the page's Zoho ids (a statement that lost its tenant condition
    would find or change them too). On the fleet database, the statistics were taken when four other
    tenants, a quarter of the size each and with the same Zoho ids, were all there was: they know their
    rows, not the new one's."""
    user_id = "large-new-tenant"
    db.run("INSERT INTO users (id) VALUES (:u), ('neighbour')", u=user_id)
    if request.param == "fleet database":
        add_analyzed_tenants(db, N_CUSTOMERS, N_INVOICES)
        for analyzed in ANALYZED:
            hold_back(db, analyzed, range(1, N_SKIPS // len(ANALYZED) + 1))
        for table in ("customers_cache", "invoices_cache"):  # as old rows are: made and reconciled before now
            db.run(f"UPDATE {table} SET created_at = now() - interval '30 days', "  # noqa: S608
                   "reconciled_at = now() - interval '1 day'")  # fmt: skip
    add_stale_tenant(db, user_id, N_CUSTOMERS, N_INVOICES)
    hold_back(db, user_id, range(1, N_SKIPS + 1))
    db.run("UPDATE customers_cache SET contact_persons = CAST(:persons AS jsonb) "
           "WHERE user_id = :u AND zoho_customer_id = ANY(CAST(:ids AS text[]))",
           persons=PERSONS, u=user_id, ids=page_of("c", 5_000))  # fmt: skip
    db.run(
        "INSERT INTO customers_cache (user_id, zoho_customer_id, customer_name, sync_hash) "
        "SELECT 'neighbour', zoho_id, 'neighbour', 'n' FROM unnest(CAST(:ids AS text[])) AS zoho_id",
        ids=page_of("c", 5_000),
    )
    db.run(
        "INSERT INTO invoices_cache (user_id, zoho_invoice_id, customer_id, status, total, balance, due_date) "
        "SELECT 'neighbour', zoho_id, (SELECT id FROM customers_cache WHERE user_id = 'neighbour' LIMIT 1), "
        "'sent', 10, 10, current_date FROM unnest(CAST(:ids AS text[])) AS zoho_id",
        ids=page_of("i", 15_000),
    )
    hold_back(db, "neighbour", range(5_000, 5_000 + PAGE), reason="the neighbour's")
    db.run("UPDATE invoice_sync_skips SET next_retry_at = now() - interval '1 minute' "
           "WHERE user_id = :u AND zoho_invoice_id = ANY(CAST(:ids AS text[]))",
           u=user_id, ids=[f"k{n}" for n in RETRY_DUE])  # fmt: skip
    return user_id


def hold_back(db: Database, user_id: str, numbers: range, reason: str = "customer not found") -> None:
    """Invoices 'k<n>' held back for customer 'c<n>', their retry not due yet."""
    db.run(
        "INSERT INTO invoice_sync_skips (user_id, zoho_invoice_id, zoho_customer_id, reason, invoice, next_retry_at) "
        "SELECT :u, 'k' || g, 'c' || g, :reason, '{}', now() + interval '1 hour' "
        "FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g",
        u=user_id,
        first=numbers.start,
        last=numbers.stop - 1,
        reason=reason,
    )


def page_of(prefix: str, first: int) -> list[str]:
    """A page of ids from the middle of the tenant, as a list page would name them."""
    return [f"{prefix}{n}" for n in range(first, first + PAGE)]


def listed_rows(zoho_ids: list[str]) -> list[CustomerRecord]:
    """The page's customers as a list page shows them, changed: the list has no contact persons."""
    return [
        customer_record({"contact_id": zoho_id, "contact_name": f"renamed {zoho_id}"}, sync_hash="changed",
                        modified_at=NOW, org_country="GB", org_timezone="Europe/London", persons_known=False)
        for zoho_id in zoho_ids
    ]  # fmt: skip


LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
NOW = datetime.now(UTC)
Statement = tuple[Callable[[], Any], Callable[[Any], bool]]  # a page's call, and what it must return


def page_statements(db: Database, user_id: str) -> dict[str, Statement]:
    """Each statement a pass or a reconcile runs once per page, called for one page, and its answer."""
    contacts, bills = page_of("c", 5_000), page_of("i", 15_000)
    ours = {row[0] for row in db.run("SELECT id::text FROM customers_cache WHERE user_id = :u", u=user_id)}
    invoice_rows = db.rows(
        "SELECT zoho_invoice_id, customer_id::text AS customer_id, invoice_number, status, invoice_date, due_date, "
        "total, balance, currency_code, payment_expected_date, zoho_last_modified_at FROM invoices_cache "
        "WHERE user_id = :u AND zoho_invoice_id = ANY(CAST(:ids AS text[]))",
        u=user_id,
        ids=bills,
    )
    chunk = [row[0] for row in db.run(
        "SELECT id::text FROM invoices_cache WHERE user_id = :u AND zoho_invoice_id = ANY(CAST(:ids AS text[]))",
        u=user_id, ids=bills)]  # fmt: skip
    planned = [reminders.Wanted(invoice_id, 3, NOW + timedelta(days=3), past=False) for invoice_id in chunk]
    every = UpsertCounts(unchanged=PAGE)

    def renamed_with_persons_kept() -> int:
        return int(db.scalar(
            f"SELECT count(*) FROM {each_cached('customers_cache', 'customer_name, contact_persons')} "  # noqa: S608
            "WHERE c.customer_name LIKE 'renamed %' AND c.contact_persons = CAST(:persons AS jsonb)",
            user_id=user_id, ids=contacts, persons=PERSONS))  # fmt: skip

    return {
        "customers.cached": (lambda: customers.cached(db, user_id, contacts), lambda got: len(got) == PAGE),
        "customers.ids_by_zoho_id": (
            lambda: customers.ids_by_zoho_id(db, user_id, contacts),
            lambda got: len(got) == PAGE and set(got.values()) <= ours,
        ),
        "customers.upsert_page (unchanged rows)": (
            lambda: customers.upsert_page(db, user_id, [], contacts),
            lambda got: got == every,
        ),
        "customers.upsert_page (changed list rows: the stored persons kept)": (
            lambda: (customers.upsert_page(db, user_id, listed_rows(contacts), []), renamed_with_persons_kept()),
            lambda got: got == (UpsertCounts(updated=PAGE), PAGE),
        ),
        "customers.behind": (
            lambda: customers.behind(db, user_id, [(c, NOW) for c in contacts], LONG_AGO),
            lambda got: got == set(contacts),
        ),
        "customers.mark_seen_in_zoho": (
            lambda: customers.mark_seen_in_zoho(db, user_id, contacts, NOW),
            lambda got: got == 0,
        ),
        "customers.soft_delete": (lambda: customers.soft_delete(db, user_id, contacts), lambda got: got == PAGE),
        "customers.detail_failed": (lambda: customers.detail_failed(db, user_id, contacts), lambda got: got == PAGE),
        "invoices.upsert_page": (
            lambda: invoices.upsert_page(db, user_id, invoice_rows, NOW),
            lambda got: got == every,
        ),
        "invoices.behind": (
            lambda: invoices.behind(db, user_id, [(i, NOW) for i in bills], LONG_AGO),
            lambda got: got == set(bills),
        ),
        "invoices.mark_seen_open": (lambda: invoices.mark_seen_open(db, user_id, bills, NOW), lambda got: got == PAGE),
        "invoices.mark_deleted": (lambda: invoices.mark_deleted(db, user_id, bills), lambda got: got == PAGE),
        "invoice_skips.waiting_customers": (
            lambda: invoice_skips.waiting_customers(db, user_id, contacts),
            lambda got: got == dict.fromkeys(contacts[len(RETRY_DUE) :], "customer not found"),
        ),
        "invoice_skips.clear": (lambda: invoice_skips.clear(db, user_id, page_of("k", 5_000)), lambda got: got == PAGE),
        "reminders.candidates (a chunk)": (
            lambda: reminders.candidates(db, user_id, after=None, limit=PAGE),
            lambda got: len(got.invoice_ids) == PAGE,
        ),
        "reminders.apply (a chunk)": (
            lambda: reminders.apply(db, user_id, planned),
            lambda got: got == reminders.Applied(created=PAGE),
        ),
        "reminders.cancel_unwanted (a chunk)": (  # their customers have no phone
            lambda: reminders.cancel_unwanted(db, user_id, planned, "due_date", chunk),
            lambda got: got == {"customer has no phone": PAGE},
        ),
    }


def test_a_page_reads_rows_in_proportion_to_the_page(db: Database, tenant: str) -> None:
    read, wrong = {}, {}
    for name, (statement, answers) in page_statements(db, tenant).items():
        read[name], got = rows_read(db, statement)
        if not answers(got):
            wrong[name] = got
    chunk = [
        row[0] for row in db.run("SELECT id::text FROM open_invoices WHERE user_id = :u LIMIT :n", u=tenant, n=PAGE)
    ]

    def customers_gone() -> None:
        db.run(
            "UPDATE customers_cache SET deleted_at = now() WHERE id IN "
            "(SELECT customer_id FROM invoices_cache WHERE id = ANY(CAST(:chunk AS uuid[])))",
            chunk=chunk,
        )

    name = "reminders.cancel_unwanted (a chunk, all cancelled)"
    read[name], got = rows_read(
        db, lambda: reminders.cancel_unwanted(db, tenant, [], "due_date", chunk), customers_gone
    )
    if got != {"customer deleted in Zoho": PAGE}:
        wrong[name] = got
    assert not wrong, wrong
    over = {name: count for name, count in read.items() if count > BOUND}
    assert not over, f"rows read for a page of {PAGE} ({N_CUSTOMERS + N_INVOICES:,} rows cached): {over}"


def test_the_unseen_walks_read_each_row_a_bounded_number_of_times(db: Database, tenant: str) -> None:
    """The reconcile's check of rows Zoho did not list goes batch by batch through the unseen ones: all of
    the batches together read the tenant a bounded number of times, however many batches there are. (When
    each batch read from the start, 200 batches read 20 million rows at 100,000 customers.)"""
    started = NOW + timedelta(seconds=1)
    for table in ("customers_cache", "invoices_cache"):
        db.run(f"UPDATE {table} SET created_at = :t, reconciled_at = :s WHERE user_id = :u",  # noqa: S608
               t=NOW - timedelta(days=1), s=started, u=tenant)  # fmt: skip
    db.run(
        "UPDATE customers_cache SET reconciled_at = NULL WHERE user_id = :u AND zoho_customer_id LIKE '%7'", u=tenant
    )
    db.run("UPDATE invoices_cache SET reconciled_at = NULL WHERE user_id = :u AND zoho_invoice_id LIKE '%7'", u=tenant)
    walks: dict[str, tuple[Callable[[str | None], list[str]], int, str]] = {
        "customers": (lambda after: customers.unseen_since(db, tenant, started, 50, after), N_CUSTOMERS, "c"),
        "open invoices": (lambda after: invoices.open_unseen_since(db, tenant, started, 50, after), N_INVOICES, "i"),
    }
    for name, (unseen, rows, prefix) in walks.items():
        batches: list[list[str]] = []

        def walk() -> None:  # as the reconcile does: each batch after the last one's last id
            after: str | None = None
            while batch := unseen(after):  # noqa: B023 - called here, in this iteration
                batches.append(batch)  # noqa: B023
                after = batch[-1]

        read, _ = rows_read(db, walk)
        assert sorted(i for batch in batches for i in batch) == sorted(f"{prefix}{n}" for n in range(7, rows + 1, 10))
        assert len(batches) > 10 and all(len(batch) == 50 for batch in batches[:-1])
        assert read <= 4 * rows, f"{name}: {read:,} rows read over {len(batches)} batches of {rows:,} cached"


def test_the_arrived_check_reads_each_held_back_invoice_a_bounded_number_of_times(db: Database, tenant: str) -> None:
    """Once a phase, the invoice step looks for held-back invoices whose customer is cached now: one key
    lookup per held-back invoice, whatever the statistics say (measured before, on the fleet database's and
    without 0023's index: each lookup went through the tenant's `(user_id, plan_inputs_xid)` entries, 400
    million rows read for 10,000 held back)."""
    db.run("UPDATE invoice_sync_skips SET zoho_customer_id = 'not cached' "
           "WHERE user_id = :u AND zoho_invoice_id IN ('k1', 'k3')", u=tenant)  # fmt: skip
    read, arrived = rows_read(db, lambda: invoice_skips.arrived(db, tenant, PAGE))
    assert [skip.zoho_invoice_id for skip in arrived] == sorted(f"k{n}" for n in range(2, N_SKIPS + 1) if n != 3)[:PAGE]
    # at most each held-back invoice and its customer's key, an index entry and a row each, and a little over
    assert read <= 5 * N_SKIPS, f"{read:,} rows read for {N_SKIPS:,} held back"
