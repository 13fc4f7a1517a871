"""The sync against Zoho as its API reference documents it, not as our emulator happened to behave.

Zoho documents the `last_modified_time` filter as strictly "greater than", does not promise an
order among rows modified in the same second, and lets a done row be edited between two calls.
"""

from __future__ import annotations

from typing import Any

from books_sync.db import Database
from tests.support import MakeOrg, Org, call_step
from zoho_sync_cli.lambda_context import CountdownLambdaContext

ZOHO_PROFILES = ("observed", "documented")  # Zoho as documented, and as seen


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
