"""No change in Zoho, no odd stamp and no ignored parameter hides a row (issue 21).

Through the real handlers against the emulator (both profiles) and the embedded Postgres: a deletion
between two page reads of a first sync and of an incremental pass, for contacts without invoices and for
invoices; a row stamped in 2099, then a payment; a bulk import read by a Zoho that ignores the contacts'
undocumented parameters, then a phone change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from books_sync.db import Database
from tests.support import MakeOrg, Org, call_step
from zoho_sync_cli.pipeline import run_tenant

ZOHO_PROFILES = ("observed", "documented")


def zoho_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


def stamps(db: Database, org: Org, table: str) -> dict[str, datetime | None]:
    """What the cache holds of each record: its Zoho modification time, by Zoho id (deleted ones left out)."""
    column = "zoho_customer_id" if table == "customers_cache" else "zoho_invoice_id"
    rows = db.run(
        f"SELECT {column}, zoho_last_modified_at FROM {table} WHERE user_id = :u AND deleted_at IS NULL",  # noqa: S608
        u=org.user_id,
    )
    return {row[0]: row[1] for row in rows}


def in_zoho(org: Org, kind: str) -> dict[str, datetime]:
    """What Zoho holds now, within the sync window: id → modification time."""
    snapshot = org.control.snapshot(org.organization_id)
    cutoff = datetime.now(UTC) - timedelta(days=365)
    if kind == "contacts":
        rows = [(c["contact_id"], c) for c in snapshot["contacts"] if c["contact_type"] == "customer"]
    else:
        rows = [(i["invoice_id"], i) for i in snapshot["invoices"]]
    found = {row_id: zoho_time(row["last_modified_time"]) for row_id, row in rows}
    return {row_id: when for row_id, when in found.items() if when >= cutoff}


def assert_mirrors(db: Database, org: Org, kind: str) -> None:
    """Every record Zoho has is cached, with Zoho's own modification time: none missing, none stale."""
    table = "customers_cache" if kind == "contacts" else "invoices_cache"
    cached, truth = stamps(db, org, table), in_zoho(org, kind)
    missing = sorted(set(truth) - set(cached))
    stale = sorted(row_id for row_id, when in truth.items() if row_id in cached and cached[row_id] != when)
    assert (missing, stale) == ([], []), f"{kind}: {len(missing)} missing {missing[:3]}, {len(stale)} stale {stale[:3]}"


def delete_after_the_first_page(org: Org, endpoint: str) -> None:
    org.control.inject(endpoint, "delete_after_page", count=1, organization_id=org.organization_id)


def test_a_contact_deleted_after_page_1_of_a_first_sync_hides_no_other(db: Database, make_org: MakeOrg) -> None:
    """Contacts without invoices: no invoice would fetch the one that slid up."""
    org = make_org(customers=450, invoices=0, seed=31)
    delete_after_the_first_page(org, "contacts.list")
    assert call_step("customer-sync", org)["status"] == "ok"
    assert_mirrors(db, org, "contacts")


def test_a_contact_deleted_during_an_incremental_pass_hides_no_changed_phone(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=400, invoices=0, seed=32)
    call_step("customer-sync", org)
    org.control.advance_clock(60)
    snapshot = org.control.snapshot(org.organization_id)
    customers = [c["contact_id"] for c in snapshot["contacts"] if c["contact_type"] == "customer"]
    for number, contact_id in enumerate(customers[:250]):  # two windows of changes
        org.control.update_contact(org.organization_id, contact_id, mobile=f"+91 98765 {number:05d}")
    delete_after_the_first_page(org, "contacts.list")
    call_step("customer-sync", org)
    assert_mirrors(db, org, "contacts")


def test_an_invoice_deleted_after_page_1_hides_no_other_in_a_first_sync_or_an_incremental_pass(
    db: Database, make_org: MakeOrg
) -> None:
    org = make_org(customers=30, invoices=600, seed=33)
    call_step("customer-sync", org)
    delete_after_the_first_page(org, "invoices.list")
    assert call_step("invoice-sync", org)["status"] == "ok"
    assert_mirrors(db, org, "invoices")
    org.control.advance_clock(60)
    for invoice in org.control.snapshot(org.organization_id)["invoices"][:300]:
        org.control.update_invoice(org.organization_id, invoice["invoice_id"], reference_number="edited")
    delete_after_the_first_page(org, "invoices.list")
    call_step("customer-sync", org)
    call_step("invoice-sync", org)
    assert_mirrors(db, org, "invoices")


def _open_invoice_with_reminders(org: Org) -> str:
    customer = org.control.create_contact(
        org.organization_id, phone="+44 161 496 0000", billing_country="United Kingdom", payment_reminder_enabled=True
    )
    due = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    return str(org.control.create_invoice(org.organization_id, customer["contact_id"], due_date=due)["invoice_id"])


def test_an_invoice_stamped_in_2099_is_stored_and_its_payment_still_arrives(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=3, invoices=0, country_code="GB", seed=34)
    run_tenant(org.user_id)
    invoice = _open_invoice_with_reminders(org)
    org.control.inject("invoices.list", "future_stamp", count=1, organization_id=org.organization_id)
    assert run_tenant(org.user_id).error is None
    row = db.one("SELECT status, zoho_last_modified_at FROM invoices_cache WHERE zoho_invoice_id = :z", z=invoice)
    assert row == {"status": "sent", "zoho_last_modified_at": None}  # stored, its time unknown
    assert db.scalar("SELECT count(*) FROM reminders WHERE status = 'pending' AND user_id = :u", u=org.user_id) == 3
    cursor = db.scalar("SELECT invoice_cursor FROM sync_metadata WHERE user_id = :u", u=org.user_id)
    assert cursor is None or cursor < datetime.now(UTC) + timedelta(minutes=1)  # it did not jump to 2099
    org.control.advance_clock(2)
    org.control.pay_invoice(org.organization_id, invoice)
    assert run_tenant(org.user_id).error is None
    assert db.scalar("SELECT status FROM invoices_cache WHERE zoho_invoice_id = :z", z=invoice) == "paid"
    assert db.scalar("SELECT count(*) FROM reminders WHERE status = 'pending' AND user_id = :u", u=org.user_id) == 0


def test_a_contact_stamped_in_2099_never_blocks_its_true_copy(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=1, invoices=0, seed=35)
    call_step("customer-sync", org)
    contact = org.control.create_contact(org.organization_id, mobile="+91 98765 00001")
    org.control.inject("contacts.list", "future_stamp", count=1, organization_id=org.organization_id)
    call_step("customer-sync", org)
    cached = db.one(
        "SELECT zoho_last_modified_at FROM customers_cache WHERE zoho_customer_id = :z", z=contact["contact_id"]
    )
    assert cached == {"zoho_last_modified_at": None}
    org.control.advance_clock(2)
    org.control.update_contact(org.organization_id, contact["contact_id"], contact_name="Renamed")
    call_step("customer-sync", org)
    assert_mirrors(db, org, "contacts")


def test_a_bulk_import_read_by_a_zoho_that_ignores_the_undocumented_parameters_hides_no_later_change(
    db: Database, make_org: MakeOrg
) -> None:
    """450 contacts imported in one second a month ago, oldest first in a list that ignores both the
    contacts' `last_modified_time` filter and `sort_order`: 200 ties on the first page prove no order."""
    org = make_org(customers=0, invoices=0, seed=36, ignore_undocumented=True)
    org.control.advance_clock(-30 * 86400)
    org.control.freeze_clock(True)
    made = [org.control.create_contact(org.organization_id, mobile=f"+91 98765 1{n:04d}") for n in range(450)]
    bulk = [contact["contact_id"] for contact in made]
    org.control.reset_clock()
    org.control.advance_clock(-7 * 86400)
    for n in range(20):
        org.control.advance_clock(60)
        org.control.create_contact(org.organization_id, mobile=f"+91 98765 2{n:04d}")
    org.control.reset_clock()
    call_step("customer-sync", org)
    assert_mirrors(db, org, "contacts")
    org.control.update_contact(org.organization_id, bulk[7], mobile="+91 98765 99999")
    summary: dict[str, Any] = call_step("customer-sync", org)
    assert summary["updated"] >= 1
    assert_mirrors(db, org, "contacts")


def test_the_reconciles_fetch_what_the_cache_lacks_or_holds_older(db: Database, make_org: MakeOrg) -> None:
    """Whatever a pass missed, the deletion reconciles compare modification times as well as ids: a
    customer or an open invoice listed in Zoho that the cache lacks, or holds older, is stored from its row."""
    org = make_org(customers=40, invoices=120, seed=37, open_share=0.6)
    assert run_tenant(org.user_id).error is None
    org.control.create_contact(org.organization_id, mobile="+91 98765 43211")  # the cursor moves to now
    assert run_tenant(org.user_id).error is None
    org.control.advance_clock(-3600)  # a contact stamped an hour before the cursor: no pass reads it
    lone = org.control.create_contact(org.organization_id, mobile="+91 98765 43210")["contact_id"]  # no invoice
    org.control.reset_clock()
    assert run_tenant(org.user_id).error is None
    assert lone not in stamps(db, org, "customers_cache")
    open_invoice = next(i for i in org.control.snapshot(org.organization_id)["invoices"] if i["balance"] > 0)
    customer = open_invoice["customer_id"]
    db.run(
        "UPDATE customers_cache SET customer_name = 'stale', zoho_last_modified_at = zoho_last_modified_at - "
        "interval '1 day' WHERE zoho_customer_id = :z",
        z=customer,
    )
    db.run(
        "UPDATE invoices_cache SET balance = 1, zoho_last_modified_at = zoho_last_modified_at - interval '1 day' "
        "WHERE zoho_invoice_id = :z",
        z=open_invoice["invoice_id"],
    )
    db.run(
        "UPDATE sync_metadata SET last_customer_reconcile_at = now() - interval '8 days', "
        "last_invoice_reconcile_at = now() - interval '2 days' WHERE user_id = :u",
        u=org.user_id,
    )
    run = run_tenant(org.user_id)
    assert run.error is None
    assert run.steps["customer-sync"]["caughtUp"] == 2 and run.steps["invoice-sync"]["caughtUp"] == 1
    assert_mirrors(db, org, "contacts")
    assert_mirrors(db, org, "invoices")
    assert db.scalar("SELECT balance FROM invoices_cache WHERE zoho_invoice_id = :z", z=open_invoice["invoice_id"]) > 1


def test_a_customers_time_zone_comes_from_its_billing_state_before_its_phone(db: Database, make_org: MakeOrg) -> None:
    """A California business with an Oklahoma (+1-405) mobile gets its reminders at 9:00 in Los Angeles."""
    org = make_org(customers=1, invoices=0, country_code="US", seed=38)
    made = {
        state: org.control.create_contact(
            org.organization_id, mobile="+1 405 555 0142", billing_country="U.S.A", billing_state=state
        )["contact_id"]
        for state in ("California", "TX", "")
    }
    sydney = org.control.create_contact(
        org.organization_id, mobile="+61 8 9000 0000", billing_country="Australia", billing_state="NSW"
    )["contact_id"]
    run_tenant(org.user_id)
    zones = dict(db.run("SELECT zoho_customer_id, timezone FROM customers_cache WHERE user_id = :u", u=org.user_id))
    assert zones[made["California"]] == "America/Los_Angeles"
    assert zones[made["TX"]] == "America/Chicago"
    assert zones[made[""]] == "America/Chicago"  # no state: the number's zone, as before
    assert zones[sydney] == "Australia/Sydney"  # a Perth (+61 8) number, billed in New South Wales
    region = db.scalar("SELECT billing_region FROM customers_cache WHERE zoho_customer_id = :z", z=made["California"])
    assert region == "California"
