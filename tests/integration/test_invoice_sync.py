"""Invoice sync end to end: real handlers, embedded Postgres, the emulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from books_sync.db import Database
from books_sync.storage import leases, sync_state
from tests.support import MakeOrg, Org, call_step
from zoho_sync_cli.lambda_context import CountdownLambdaContext

ZOHO_PROFILES = ("observed", "documented")  # Zoho as documented, and as seen


def sync_customers(org: Org, **event: Any) -> dict[str, Any]:
    return call_step("customer-sync", org, **event)


def sync_invoices(org: Org, *, context: Any = None, **event: Any) -> dict[str, Any]:
    return call_step("invoice-sync", org, context=context, **event)


def invoices(db: Database, user_id: str) -> dict[str, dict[str, Any]]:
    rows = db.rows(
        "SELECT i.zoho_invoice_id, i.invoice_number, c.zoho_customer_id, i.status, i.invoice_date, i.due_date, "
        "i.total, i.balance, i.currency_code, i.zoho_last_modified_at, i.deleted_at "
        "FROM invoices_cache AS i JOIN customers_cache AS c ON c.id = i.customer_id WHERE i.user_id = :u",
        u=user_id,
    )
    return {row["zoho_invoice_id"]: row for row in rows}


def skips(db: Database, user_id: str) -> dict[str, str]:
    rows = db.run("SELECT zoho_invoice_id, reason FROM invoice_sync_skips WHERE user_id = :u", u=user_id)
    return {row[0]: row[1] for row in rows}


def comparable(db: Database, user_id: str) -> dict[str, tuple[Any, ...]]:
    """Rows keyed by invoice number, without Zoho ids (two organizations from one seed differ only there)."""
    return {
        row["invoice_number"]: (row["status"], row["invoice_date"], row["due_date"], row["total"], row["balance"])
        for row in invoices(db, user_id).values()
    }


def zoho_invoices(org: Org) -> dict[str, dict[str, Any]]:
    return {i["invoice_id"]: i for i in org.control.snapshot(org.organization_id)["invoices"]}


def test_first_sync_links_every_invoice_with_no_detail_calls(db: Database, make_org: MakeOrg) -> None:
    """No call per invoice: one list page; the customers' details follow once, by urgency."""
    org = make_org(customers=30, invoices=120, old_customer_share=0.0, seed=3)
    sync_customers(org)
    summary = sync_invoices(org)
    assert summary["detailsFetched"] == 30 and summary["detailsWaiting"] == 0
    expected = zoho_invoices(org)
    stored = invoices(db, org.user_id)
    assert set(stored) == set(expected)
    assert summary["inserted"] == len(expected)
    assert summary["customersFetchedOnDemand"] == 0
    assert summary["skippedMissingCustomer"] == 0
    assert summary["apiCalls"] == 1 + 30  # one list page and the details; the token is cached
    for zoho_id, row in stored.items():
        source = expected[zoho_id]
        assert row["zoho_customer_id"] == source["customer_id"]
        assert row["status"] == source["status"]
        assert float(row["balance"]) == pytest.approx(source["balance"])
        assert row["due_date"].isoformat() == source["due_date"]
    again = sync_invoices(org)
    assert (again["inserted"], again["updated"], again["apiCalls"]) == (0, 0, 1)
    assert again["unchanged"] >= 1  # the overlap re-reads the newest invoices and only touches them


def test_missing_customer_is_fetched_once_on_demand(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=10, invoices=0)
    sync_customers(org)
    late = org.control.create_contact(org.organization_id)  # created after the customer sync ran
    for _ in range(3):
        org.control.create_invoice(org.organization_id, late["contact_id"])
    summary = sync_invoices(org)
    assert summary["customersFetchedOnDemand"] == 1  # one fetch for three invoices
    assert summary["inserted"] == 3
    customer = db.one(
        "SELECT sync_hash, contact_persons FROM customers_cache WHERE user_id = :u AND zoho_customer_id = :z",
        u=org.user_id,
        z=late["contact_id"],
    )
    assert customer is not None and customer["sync_hash"]
    sync_customers(org)
    assert sync_invoices(org)["detailsFetched"] == 0  # stored with the customer rules: same hash as the list


def test_customer_missing_in_zoho_is_recorded_then_linked_when_it_returns(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5, invoices=0)
    ghost = org.control.create_contact(org.organization_id)
    held = org.control.create_invoice(org.organization_id, ghost["contact_id"])
    org.control.delete_contact(org.organization_id, ghost["contact_id"])
    sync_customers(org)
    summary = sync_invoices(org)
    assert summary["skippedMissingCustomer"] == 1
    assert held["invoice_id"] not in invoices(db, org.user_id)
    assert skips(db, org.user_id) == {held["invoice_id"]: "customer not found in Zoho"}
    assert sync_state.load(db, org.user_id, "invoice").cursor is not None  # the cursor moved on
    sync_invoices(org)  # still missing: kept, tried again
    assert db.scalar("SELECT attempts FROM invoice_sync_skips WHERE user_id = :u", u=org.user_id) == 2
    org.control.restore_contact(org.organization_id, ghost["contact_id"])
    db.run("UPDATE invoice_sync_skips SET next_retry_at = now() WHERE user_id = :u", u=org.user_id)  # its turn
    summary = sync_invoices(org)
    assert summary["skipsLinked"] == 1
    assert invoices(db, org.user_id)[held["invoice_id"]]["zoho_customer_id"] == ghost["contact_id"]
    assert skips(db, org.user_id) == {}


def test_open_invoice_deleted_in_zoho_stops_being_open(
    db: Database, make_org: MakeOrg, configure: Callable[..., None]
) -> None:
    org = make_org(customers=5, invoices=0)
    customer = next(iter(org.control.snapshot(org.organization_id)["contacts"]))["contact_id"]
    kept = org.control.create_invoice(org.organization_id, customer)
    dropped = org.control.create_invoice(org.organization_id, customer)
    sync_customers(org)
    sync_invoices(org)
    org.control.delete_invoice(org.organization_id, dropped["invoice_id"])
    configure(INVOICE_RECONCILE_INTERVAL_HOURS="0.000001")
    summary = sync_invoices(org)
    assert summary["markedDeleted"] == 1
    stored = invoices(db, org.user_id)
    assert stored[dropped["invoice_id"]]["deleted_at"] is not None
    assert stored[kept["invoice_id"]]["deleted_at"] is None


def test_paid_and_voided_invoices_are_updated(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5, invoices=0)
    customer = next(iter(org.control.snapshot(org.organization_id)["contacts"]))["contact_id"]
    paid = org.control.create_invoice(org.organization_id, customer)
    void = org.control.create_invoice(org.organization_id, customer)
    sync_customers(org)
    sync_invoices(org)
    org.control.pay_invoice(org.organization_id, paid["invoice_id"])
    org.control.void_invoice(org.organization_id, void["invoice_id"])
    summary = sync_invoices(org)
    assert summary["updated"] == 2
    stored = invoices(db, org.user_id)
    assert (stored[paid["invoice_id"]]["status"], float(stored[paid["invoice_id"]]["balance"])) == ("paid", 0.0)
    assert stored[void["invoice_id"]]["status"] == "void"


def test_tiny_time_budget_loops_to_the_same_rows(db: Database, make_org: MakeOrg) -> None:
    one = make_org(customers=40, invoices=900, seed=9)
    looped = make_org(customers=40, invoices=900, seed=9)
    for org in (one, looped):
        sync_customers(org)
    sync_invoices(one)
    summaries = [sync_invoices(looped, context=CountdownLambdaContext("invoice-sync", checks=1))]
    while summaries[-1]["hasMore"]:
        assert len(summaries) < 50
        summaries.append(sync_invoices(looped, context=CountdownLambdaContext("invoice-sync", checks=1)))
    assert len(summaries) >= 3
    assert sum(s["inserted"] for s in summaries) == len(invoices(db, one.user_id))
    assert comparable(db, looped.user_id) == comparable(db, one.user_id)


def test_crash_mid_sync_then_rerun_converges(db: Database, make_org: MakeOrg) -> None:
    clean = make_org(customers=20, invoices=700, seed=12)
    crashy = make_org(customers=20, invoices=700, seed=12)
    for org in (clean, crashy):
        sync_customers(org)
    sync_invoices(clean)
    crashy.control.inject("invoices.list", "500", count=10, organization_id=crashy.organization_id, after=2)
    with pytest.raises(Exception, match=r"invoices\.list"):
        sync_invoices(crashy)
    assert 0 < len(invoices(db, crashy.user_id)) < len(invoices(db, clean.user_id))
    crashy.control.clear_faults()
    assert sync_invoices(crashy)["status"] == "ok"
    assert comparable(db, crashy.user_id) == comparable(db, clean.user_id)


def test_malformed_invoice_rows_are_skipped_with_a_reason(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5, invoices=10)
    sync_customers(org)
    customer = next(iter(org.control.snapshot(org.organization_id)["contacts"]))["contact_id"]
    bad = org.control.create_invoice(org.organization_id, customer)
    org.control.update_invoice(org.organization_id, bad["invoice_id"], customer_id=None, total="lots", due_date=7)
    odd = org.control.create_invoice(org.organization_id, customer)
    org.control.update_invoice(org.organization_id, odd["invoice_id"], total="lots", due_date=7, status=None)
    summary = sync_invoices(org)
    assert summary["skippedInvalid"] == 1
    stored = invoices(db, org.user_id)
    assert bad["invoice_id"] not in stored
    assert (stored[odd["invoice_id"]]["total"], stored[odd["invoice_id"]]["due_date"]) == (None, None)


def test_overlapping_run_is_skipped(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5, invoices=5)
    earlier = "arn:aws:states:us-east-1:1:execution:sync:earlier"  # another execution still works on the tenant
    assert leases.take(db, org.user_id, earlier, "invoice-sync", 600) is None
    summary = sync_invoices(org)
    assert (summary["status"], summary["apiCalls"]) == ("skipped", 0)
    held = leases.current(db, org.user_id)
    assert held is not None and held.holder == earlier


def test_held_back_invoices_are_retried_with_backoff_not_every_run(db: Database, make_org: MakeOrg) -> None:
    """60 invoices whose customers Zoho does not have: the first run asks for each customer once;
    the next hourly runs do not ask again until their retry time (a free plan has 1,000 calls a day)."""
    org = make_org(customers=2, invoices=0)
    sync_customers(org)
    for number in range(60):
        org.control.create_invoice(org.organization_id, f"ghost{number:03d}")
    first = sync_invoices(org)
    assert first["skippedMissingCustomer"] == 60
    assert first["customersFetchedOnDemand"] == 0
    again = sync_invoices(org)
    assert again["apiCalls"] <= 2  # the invoice list, not one call per missing customer
    assert len(skips(db, org.user_id)) == 60
    db.run("UPDATE invoice_sync_skips SET next_retry_at = now() WHERE user_id = :u", u=org.user_id)  # their turn
    due = sync_invoices(org)
    assert due["apiCalls"] >= 50  # once due, they are asked for again (up to SKIP_RETRY_LIMIT per run)
    retry_at = db.run("SELECT next_retry_at - now() FROM invoice_sync_skips WHERE user_id = :u", u=org.user_id)
    assert all(row[0].total_seconds() > 3600 for row in retry_at if row[0] is not None)  # the wait grows


def test_a_held_back_invoice_is_linked_with_its_reminders_in_the_run_its_customer_arrives(
    db: Database, make_org: MakeOrg
) -> None:
    """Its wait (50 minutes, doubling) is for customers still missing: once the customer step (or a fetch)
    stores the customer, every invoice held back for it links in the same run, at no extra call."""
    from datetime import date, timedelta

    from zoho_sync_cli.pipeline import run_tenant

    org = make_org(customers=2, invoices=0, country_code="GB")
    org.control.advance_clock(-3600)  # Zoho's clock where it is: these rows are an hour old at the next run
    customer = org.control.create_contact(
        org.organization_id, phone="+44 161 496 0000", billing_country="United Kingdom", payment_reminder_enabled=True
    )["contact_id"]
    org.control.delete_contact(org.organization_id, customer)
    due = (date.today() + timedelta(days=20)).isoformat()
    invoices = [org.control.create_invoice(org.organization_id, customer, due_date=due)["invoice_id"] for _ in range(2)]
    org.control.reset_clock()
    someone = org.control.create_contact(org.organization_id, phone="", mobile="")["contact_id"]  # no reminders
    org.control.create_invoice(org.organization_id, someone, due_date=due)  # the cursor moves to now
    assert run_tenant(org.user_id).error is None
    held = db.scalar(
        "SELECT count(*) FROM invoice_sync_skips WHERE user_id = :u AND next_retry_at > now()", u=org.user_id
    )
    assert held == 2
    org.control.advance_clock(2)
    org.control.restore_contact(org.organization_id, customer)  # the customer is back in Zoho
    run = run_tenant(org.user_id)
    assert run.error is None
    assert db.scalar("SELECT count(*) FROM invoice_sync_skips WHERE user_id = :u", u=org.user_id) == 0
    linked = db.scalar(
        "SELECT count(*) FROM invoices_cache WHERE user_id = :u AND zoho_invoice_id = ANY(CAST(:ids AS text[]))",
        u=org.user_id,
        ids=invoices,
    )
    assert linked == 2
    pending = db.scalar(
        "SELECT count(*) FROM reminders r JOIN invoices_cache i ON i.id = r.invoice_id WHERE r.status = 'pending' "
        "AND i.zoho_invoice_id = ANY(CAST(:ids AS text[]))",
        ids=invoices,
    )
    assert pending == 6  # three offsets each, in the same run
    assert run.steps["invoice-sync"]["customersFetchedOnDemand"] == 0  # the customer step brought it
