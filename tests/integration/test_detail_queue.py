"""The customer detail queue: its urgency order, and a plan that stays linear on stale statistics."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from books_sync.db import Database
from books_sync.storage import customers
from tests.plans import add_analyzed_tenants, add_stale_tenant, plan_nodes
from tests.support import MakeOrg, call_step
from zoho_sync_cli.lambda_context import LocalLambdaContext

OFFSETS = (-3, 0, 7)


def add_customer(db: Database, user_id: str, zoho_id: str, *, detail: str | None = None, minutes_ago: int = 0) -> str:
    """A customer as the list left it: `detail` is the hash its detail was read for (None: never)."""
    return str(
        db.scalar(
            "INSERT INTO customers_cache (user_id, zoho_customer_id, customer_name, sync_hash, detail_hash, "
            "detail_fetched_at, zoho_last_modified_at) VALUES (:u, :z, :z, 'now', :d, "
            "CASE WHEN CAST(:d AS text) IS NOT NULL THEN now() END, now() - make_interval(mins => :m)) RETURNING id",
            u=user_id,
            z=zoho_id,
            d=detail,
            m=minutes_ago,
        )
    )


def add_invoice(db: Database, user_id: str, customer_id: str, zoho_id: str, due: date, *, open_: bool = True) -> None:
    db.run(
        "INSERT INTO invoices_cache (user_id, zoho_invoice_id, customer_id, status, total, balance, due_date) "
        "VALUES (:u, :z, CAST(:c AS uuid), :s, 10, :b, :due)",
        u=user_id,
        z=zoho_id,
        c=customer_id,
        s="sent" if open_ else "paid",
        b=10 if open_ else 0,
        due=due,
    )


def queue(db: Database, user_id: str, limit: int = 100, tried: tuple[str, ...] = ()) -> list[str]:
    found = customers.detail_queue(db, user_id, offsets=OFFSETS, basis="due_date", limit=limit, tried=tried)
    return [zoho_id for zoho_id, _ in found]


def test_details_are_queued_by_the_first_reminder_they_unlock(db: Database, make_org: MakeOrg) -> None:
    user_id = make_org(customers=0, invoices=0).user_id
    today = date.today()
    add_customer(db, user_id, "current", detail="now")  # nothing to read
    add_customer(db, user_id, "no-invoices-old", minutes_ago=60)
    add_customer(db, user_id, "no-invoices-new", minutes_ago=1)
    paid = add_customer(db, user_id, "paid-only")
    add_invoice(db, user_id, paid, "p1", today + timedelta(days=5), open_=False)
    long_overdue = add_customer(db, user_id, "long-overdue")  # open, but every offset is behind it
    add_invoice(db, user_id, long_overdue, "o1", today - timedelta(days=60))
    later = add_customer(db, user_id, "due-in-20")
    add_invoice(db, user_id, later, "l1", today + timedelta(days=20))
    sooner = add_customer(db, user_id, "due-in-5")
    add_invoice(db, user_id, sooner, "s1", today + timedelta(days=5))
    add_invoice(db, user_id, sooner, "s2", today + timedelta(days=30))
    changed = add_customer(db, user_id, "changed-due-in-30", detail="before")  # read once, changed since
    add_invoice(db, user_id, changed, "c1", today + timedelta(days=30))

    assert queue(db, user_id) == [
        "changed-due-in-30",  # changed since its detail, reminders ahead
        "due-in-5",  # never read: by the first reminder day (5 - 3 = in 2 days)
        "due-in-20",
        "long-overdue",  # open invoices, no reminder ahead
        "paid-only",  # the rest, newest change first
        "no-invoices-new",
        "no-invoices-old",
    ]
    assert queue(db, user_id, limit=2, tried=("changed-due-in-30",)) == ["due-in-5", "due-in-20"]


@pytest.mark.parametrize("statistics", ["new database", "fleet database"])
def test_the_queue_reads_each_row_a_bounded_number_of_times_on_stale_statistics(
    db: Database, make_org: MakeOrg, statistics: str
) -> None:
    """Right after a new tenant's first sync the statistics know nothing of its rows (on a fleet
    database, they know only the tenants before it). The queue's plan must stay linear then: a set-wide
    aggregate joined to the customers became a nested loop over both (46 million rows compared for
    10,000 customers, 12 s a query)."""
    user_id = make_org(customers=0, invoices=0).user_id
    n_customers, n_invoices = 2_000, 6_000
    if statistics == "fleet database":
        add_analyzed_tenants(db, n_customers, n_invoices)
    add_stale_tenant(db, user_id, n_customers, n_invoices)
    explained = db.scalar(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + customers._DETAIL_QUEUE,
        user_id=user_id,
        offsets=list(OFFSETS),
        basis="due_date",
        limit=1000,
        tried=[],
    )
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    read = ("Actual Rows", "Rows Removed by Filter", "Rows Removed by Join Filter")
    touched = sum(sum(node.get(key, 0) for key in read) * node.get("Actual Loops", 1) for node in plan_nodes(plan))
    assert touched < 20 * (n_customers + n_invoices), f"{touched:,} rows read for {n_customers + n_invoices:,}"


def test_a_customer_still_queued_after_its_detail_is_asked_for_once_a_run(db: Database, make_org: MakeOrg) -> None:
    """A detail older than the list row it was queued for does not make the customer current (an
    older copy never overwrites a newer one): the run asks for it once, then goes on and ends."""
    org = make_org(customers=3, invoices=0)
    call_step("customer-sync", org)
    db.run(
        "UPDATE customers_cache SET zoho_last_modified_at = now() + interval '1 day' WHERE user_id = :u "
        "AND zoho_customer_id = (SELECT min(zoho_customer_id) FROM customers_cache WHERE user_id = :u)",
        u=org.user_id,
    )
    org.control.reset_stats()
    # 10 s of work before the safety margin: a step that offered the customer again would spin till then
    summary = call_step("invoice-sync", org, context=LocalLambdaContext("invoice-sync", timeout_seconds=130))
    assert (summary["status"], summary["hasMore"]) == ("ok", False)
    assert (summary["detailsFetched"], summary["detailsWaiting"]) == (3, 1)
    assert org.control.stats()["by_org"][org.organization_id]["contacts.get"] == 3
