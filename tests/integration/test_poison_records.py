"""One bad record never stops a tenant: Zoho data that breaks naive code is cleaned or skipped with a
logged reason, and what Zoho changes afterwards still arrives on the next run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from books_sync.db import Database
from tests.support import MakeOrg, Org
from zoho_sync_cli.pipeline import run_tenant

ZOHO_PROFILES = ("observed", "documented")


@dataclass(frozen=True)
class Poison:
    contact: dict[str, Any] | None = None  # changes to one contact
    invoice: dict[str, Any] | None = None  # changes to one open invoice


CASES: dict[str, Poison] = {
    "NUL in a contact name": Poison(contact={"contact_name": "Ac\x00me"}),
    "half an emoji in a contact name": Poison(contact={"contact_name": "Bikes \ud83d"}),
    "lone low surrogate in an email": Poison(contact={"email": "\udc00x@example.com"}),
    "NUL and surrogate in persons": Poison(
        contact={
            "contact_persons": [
                {"first_name": "Zo\x00e\ud83d", "mobile": "+44 7911\x00 123456", "is_primary_contact": True}
            ]
        }
    ),
    "persons of the wrong type": Poison(contact={"contact_persons": "everyone"}),
    "a number as the email": Poison(contact={"email": 12345}),
    "reminders flag of the wrong type": Poison(contact={"payment_reminder_enabled": "yes"}),
    "NUL in an invoice number": Poison(invoice={"invoice_number": "INV-\x00-1"}),
    "surrogate in an invoice number": Poison(invoice={"invoice_number": "INV-\ud83d"}),
    "due in the year 9999": Poison(invoice={"due_date": "9999-12-31"}),
    "due in the year 1": Poison(invoice={"due_date": "0001-01-01"}),
    "due on 0000-00-00": Poison(invoice={"due_date": "0000-00-00"}),
    "expected payment on 31 February": Poison(invoice={"payment_expected_date": "2026-02-31"}),
    "a balance of infinity": Poison(invoice={"balance": "1e400"}),
    "a balance that is an object": Poison(invoice={"balance": {"amount": 5}}),
    "a status that is a number": Poison(invoice={"status": 7}),
}


def invoice_with_reminders(db: Database, org: Org) -> tuple[str, str]:
    """(an open invoice that has pending reminders, its customer): the records the reminders step reads."""
    customer = db.scalar(
        "SELECT zoho_customer_id FROM customers_cache WHERE user_id = :u AND primary_phone IS NOT NULL "
        "ORDER BY zoho_customer_id LIMIT 1",
        u=org.user_id,
    )
    due = (date.today() + timedelta(days=20)).isoformat()
    invoice = org.control.create_invoice(org.organization_id, customer, due_date=due, status="sent")
    assert run_tenant(org.user_id).error is None
    pending = (
        "SELECT count(*) FROM reminders AS r JOIN invoices_cache AS i ON i.id = r.invoice_id "
        "WHERE i.zoho_invoice_id = :z"
    )
    assert db.scalar(pending, z=invoice["invoice_id"]) == 3
    return invoice["invoice_id"], customer


def stored(db: Database, sql: str, **params: Any) -> Any:
    return db.scalar(sql, **params)


@pytest.mark.parametrize("case", CASES)
def test_a_poison_record_never_stops_the_tenant(
    db: Database, make_org: MakeOrg, case: str, configure: Callable[..., None]
) -> None:
    org = make_org(customers=12, invoices=30, seed=61)
    assert run_tenant(org.user_id).error is None
    invoice_id, customer_id = invoice_with_reminders(db, org)
    poison = CASES[case]
    if poison.contact:
        org.control.update_contact(org.organization_id, customer_id, **poison.contact)
    if poison.invoice:
        org.control.update_invoice(org.organization_id, invoice_id, **poison.invoice)
    first = run_tenant(org.user_id)
    assert first.error is None, first.error
    # Zoho goes on changing: a new invoice, and a phone change on another customer.
    other = next(c["contact_id"] for c in org.control.snapshot(org.organization_id)["contacts"]
                 if c["contact_type"] == "customer" and c["contact_id"] != customer_id)  # fmt: skip
    org.control.update_contact(org.organization_id, other, mobile="+44 7911 123461")
    fresh = org.control.create_invoice(org.organization_id, other)
    second = run_tenant(org.user_id)
    assert second.error is None, second.error
    assert (
        stored(db, "SELECT primary_phone FROM customers_cache WHERE zoho_customer_id = :z", z=other) == "+447911123461"
    )
    assert stored(db, "SELECT count(*) FROM invoices_cache WHERE zoho_invoice_id = :z", z=fresh["invoice_id"]) == 1
    assert stored(db, "SELECT count(*) FROM invoices_cache WHERE zoho_invoice_id = :z", z=invoice_id) == 1
