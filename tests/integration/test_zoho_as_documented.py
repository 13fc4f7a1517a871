"""The sync against Zoho as its API reference documents it, not as our emulator happened to behave.

Zoho documents the `last_modified_time` filter as strictly "greater than", does not promise an
order among rows modified in the same second, and lets a done row be edited between two calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from books_sync.db import Database
from tests.support import MakeOrg, Org, call_step
from zoho_sync_cli.lambda_context import CountdownLambdaContext

ZOHO_PROFILES = ("observed", "documented")  # Zoho as documented, and as seen


def stored_customer_ids(db: Database, user_id: str) -> set[str]:
    rows = db.run("SELECT zoho_customer_id FROM customers_cache WHERE user_id = :u", u=user_id)
    return {row[0] for row in rows}


def stored_invoice_ids(db: Database, user_id: str) -> set[str]:
    rows = db.run("SELECT zoho_invoice_id FROM invoices_cache WHERE user_id = :u", u=user_id)
    return {row[0] for row in rows}


def until_done(org: Org, step: str, checks: int) -> list[dict[str, Any]]:
    summaries = [call_step(step, org, context=CountdownLambdaContext(step, checks=checks))]
    while summaries[-1]["hasMore"]:
        assert len(summaries) < 60, "the hasMore loop does not end"
        summaries.append(call_step(step, org, context=CountdownLambdaContext(step, checks=checks)))
    return summaries


def bulk_invoices(org: Org, count: int) -> list[str]:
    """`count` invoices created in one second (a bulk import): one tie group across several pages."""
    customer = next(c for c in org.control.snapshot(org.organization_id)["contacts"] if c["contact_type"] == "customer")
    org.control.freeze_clock(True)
    try:
        invoices = [org.control.create_invoice(org.organization_id, customer["contact_id"]) for _ in range(count)]
    finally:
        org.control.freeze_clock(False)
    return [invoice["invoice_id"] for invoice in invoices]


def test_an_edit_to_a_done_row_during_a_pause_inside_a_tie_group_loses_nothing(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5, invoices=0)
    call_step("customer-sync", org)
    created = bulk_invoices(org, 450)
    first = call_step("invoice-sync", org, context=CountdownLambdaContext("invoice-sync", checks=1))
    assert first["hasMore"]
    done = stored_invoice_ids(db, org.user_id)
    assert 0 < len(done) < len(created)
    org.control.advance_clock(5)
    org.control.update_invoice(org.organization_id, sorted(done)[0], reference_number="edited")  # leaves the tie group
    until_done(org, "invoice-sync", checks=1)
    assert stored_invoice_ids(db, org.user_id) == set(created)


def test_a_deletion_check_answered_with_another_error_keeps_the_row_and_finishes(
    db: Database, make_org: MakeOrg, configure: Callable[..., None]
) -> None:
    """Only 404/1002 means deleted. HTTP 400 code 2 ("Invalid ID") is unknown: logged, kept, checked next time."""
    org = make_org(customers=8, invoices=0)
    call_step("customer-sync", org)
    missing = sorted(stored_customer_ids(db, org.user_id))[:2]
    for zoho_id in missing:
        org.control.delete_contact(org.organization_id, zoho_id)
    org.control.inject("contacts.get", "invalid_id", count=1, organization_id=org.organization_id)
    configure(CUSTOMER_RECONCILE_INTERVAL_DAYS="0")
    summary = call_step("customer-sync", org)
    assert (summary["status"], summary["phase"], summary["softDeleted"]) == ("ok", "done", 1)
    deleted = db.run("SELECT zoho_customer_id FROM customers_cache WHERE user_id = :u AND deleted_at IS NOT NULL",
                     u=org.user_id)  # fmt: skip
    assert len(deleted) == 1
    assert call_step("customer-sync", org)["softDeleted"] == 1  # the unknown one is checked again and found gone


def test_an_invoice_check_answered_with_another_error_keeps_the_invoice_and_finishes(
    db: Database, make_org: MakeOrg, configure: Callable[..., None]
) -> None:
    org = make_org(customers=3, invoices=0)
    customer = next(c for c in org.control.snapshot(org.organization_id)["contacts"] if c["contact_type"] == "customer")
    invoice = org.control.create_invoice(org.organization_id, customer["contact_id"])
    call_step("customer-sync", org)
    call_step("invoice-sync", org)
    org.control.delete_invoice(org.organization_id, invoice["invoice_id"])
    org.control.inject("invoices.get", "invalid_id", count=1, organization_id=org.organization_id)
    configure(INVOICE_RECONCILE_INTERVAL_HOURS="0")
    summary = call_step("invoice-sync", org)
    assert (summary["status"], summary["phase"], summary["markedDeleted"]) == ("ok", "done", 0)
    assert call_step("invoice-sync", org)["markedDeleted"] == 1


def test_the_organization_is_asked_once_a_day_even_when_zoho_says_nothing_usable(
    db: Database, make_org: MakeOrg
) -> None:
    org = make_org(customers=3, invoices=3)
    org.control.inject("organizations.get", "invalid_id", count=5, organization_id=org.organization_id)
    for step in ("customer-sync", "invoice-sync", "customer-sync"):
        call_step(step, org, fullResync=True)
    assert org.control.stats()["by_org"][org.organization_id].get("organizations.get", 0) == 1
