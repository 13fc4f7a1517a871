"""The real statemachine/sync.asl.json run by moto's Step Functions, our handlers in process,
the emulator over HTTP and the embedded Postgres."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from books_sync.db import Database
from books_sync.storage import tenants as tenant_store
from tests.support import Org
from zoho_sync_cli.lambda_context import CountdownLambdaContext
from zoho_sync_cli.local_state_machine import LocalStateMachine
from zoho_sync_cli.pipeline import run_tenant

MakeOrg = Callable[..., Org]


@pytest.fixture
def machine() -> Iterator[LocalStateMachine]:
    with LocalStateMachine().running() as running:
        yield running


def counts(db: Database, user_id: str) -> tuple[int, int, int]:
    row = db.run(
        "SELECT (SELECT count(*) FROM customers_cache WHERE user_id = :u), "
        "(SELECT count(*) FROM invoices_cache WHERE user_id = :u), "
        "(SELECT count(*) FROM reminders WHERE user_id = :u AND status = 'pending')",
        u=user_id,
    )[0]
    return int(row[0]), int(row[1]), int(row[2])


def in_window(org: Org) -> tuple[int, int]:
    snapshot = org.control.snapshot(org.organization_id)
    cutoff = datetime.now(UTC) - timedelta(days=365)
    customers = {
        c["contact_id"]
        for c in snapshot["contacts"]
        if c["contact_type"] == "customer"
        and datetime.strptime(c["last_modified_time"], "%Y-%m-%dT%H:%M:%S%z") >= cutoff
    }
    # invoices of customers outside the window bring their customer along (fetched on demand)
    customers |= {i["customer_id"] for i in snapshot["invoices"]}
    return len(customers), len(snapshot["invoices"])


def results(output: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    assert output is not None
    return {r["userId"]: r for r in output["results"]}


def test_happy_path_for_several_tenants(db: Database, make_org: MakeOrg, machine: LocalStateMachine) -> None:
    orgs = [make_org(customers=25, invoices=60, seed=s) for s in (1, 2, 3)]
    execution = machine.execute({})
    assert execution.status == "SUCCEEDED", execution.cause
    by_tenant = results(execution.output)
    for org in orgs:
        assert by_tenant[org.user_id]["status"] == "ok"
        customers, invoices, pending = counts(db, org.user_id)
        assert (customers, invoices) == in_window(org)
        assert pending == by_tenant[org.user_id]["reminders"]["pending"] > 0
    assert execution.invocations["zoho-sync-tenants"] == 1
    assert execution.invocations["zoho-sync-reminders"] == 3
    again = machine.execute({"userIds": [orgs[0].user_id]})
    assert again.status == "SUCCEEDED"
    assert list(results(again.output)) == [orgs[0].user_id]
    quiet = results(again.output)[orgs[0].user_id]
    assert quiet["customers"]["apiCalls"] + quiet["invoices"]["apiCalls"] <= 3


def _reconcile_pages(db: Database, org: Org) -> int:
    """Zoho's unpaid list pages read by the last run, when it read them (it does every run while short)."""
    row = db.one(
        "SELECT open_invoice_pages, last_invoice_reconcile_at > now() - interval '1 minute' AS now FROM sync_metadata "
        "WHERE user_id = :u",
        u=org.user_id,
    )
    return int(row["open_invoice_pages"]) if row and row["now"] and row["open_invoice_pages"] else 0


def test_has_more_loop_ends_with_the_same_rows_as_one_pass(db: Database, make_org: MakeOrg) -> None:
    one_pass = make_org(customers=300, invoices=900, seed=8)
    looped = make_org(customers=300, invoices=900, seed=8)
    assert run_tenant(one_pass.user_id).error is None
    tenant_store.set_status(db, one_pass.user_id, "disabled", "compared against")
    tiny = lambda name: CountdownLambdaContext(name, checks=0 if name.endswith("customer-sync") else 40)  # noqa: E731
    with LocalStateMachine(context_factory=tiny).running() as machine:
        execution = machine.execute({"userIds": [looped.user_id]})
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.invocations["zoho-sync-customer-sync"] >= 2  # the Choice state looped on hasMore: the list,
    assert execution.invocations["zoho-sync-invoice-sync"] >= 3  # and the customers' details

    def comparable(user_id: str) -> tuple[Any, ...]:
        customers = db.run(
            "SELECT customer_name, primary_phone, country_code, timezone, sync_hash IS NOT NULL FROM customers_cache "
            "WHERE user_id = :u ORDER BY 1, 2",
            u=user_id,
        )
        invoices = db.run(
            "SELECT i.invoice_number, c.customer_name, i.status, i.due_date, i.balance FROM invoices_cache AS i "
            "JOIN customers_cache AS c ON c.id = i.customer_id WHERE i.user_id = :u ORDER BY 1",
            u=user_id,
        )
        reminders = db.run(
            "SELECT i.invoice_number, r.offset_days, r.scheduled_for, r.status FROM reminders AS r "
            "JOIN invoices_cache AS i ON i.id = r.invoice_id WHERE r.user_id = :u ORDER BY 1, 2",
            u=user_id,
        )
        return [tuple(r) for r in customers], [tuple(r) for r in invoices], [tuple(r) for r in reminders]

    looped_rows, one_pass_rows = comparable(looped.user_id), comparable(one_pass.user_id)
    for table, mine, theirs in zip(("customers", "invoices", "reminders"), looped_rows, one_pass_rows, strict=True):
        assert len(mine) == len(theirs), table
        assert [row for row in mine if row not in theirs] == [], table
    # A first sync spread over several calls leaves the same baseline as one pass: the next quiet
    # run reads one contact page and one invoice page, and Zoho's unpaid list only while it is short
    # and reminders are pending.
    quiet = run_tenant(looped.user_id)
    assert quiet.error is None
    assert quiet.api_calls == 2 + _reconcile_pages(db, looped)


def test_revoked_token_fails_that_tenant_only(db: Database, make_org: MakeOrg, machine: LocalStateMachine) -> None:
    healthy = make_org(customers=10, invoices=20, seed=4)
    revoked = make_org(customers=10, invoices=20, seed=5)
    revoked.control.revoke_refresh_token(revoked.refresh_token)
    execution = machine.execute({"userIds": [healthy.user_id, revoked.user_id]})
    assert execution.status == "FAILED"
    assert execution.error == "TenantsFailed"
    assert execution.cause is not None and revoked.user_id in execution.cause
    by_tenant = results(execution.output)
    assert by_tenant[healthy.user_id]["status"] == "ok"
    assert by_tenant[revoked.user_id]["status"] == "failed"
    assert by_tenant[revoked.user_id]["error"] == "ZohoAuthError"
    assert counts(db, healthy.user_id)[0] > 0
    assert counts(db, revoked.user_id) == (0, 0, 0)
    assert tenant_store.list_all(db)[[t.user_id for t in tenant_store.list_all(db)].index(revoked.user_id)].status == (
        "needs_reauth"
    )
    second = machine.execute({})
    assert second.error == "TenantsNotSynced"  # still visible until someone re-authorizes
    assert second.output is not None and second.output["needsReauth"] == [revoked.user_id]


def test_unknown_tenant_ids_are_reported(make_org: MakeOrg, machine: LocalStateMachine) -> None:
    org = make_org(customers=5, invoices=5)
    execution = machine.execute({"userIds": [org.user_id, "ghost"]})
    assert (execution.status, execution.error) == ("FAILED", "TenantsNotSynced")
    assert execution.output is not None and execution.output["unknownUserIds"] == ["ghost"]
    assert results(execution.output)[org.user_id]["status"] == "ok"


def test_transient_error_is_retried_by_the_state_machine(
    db: Database, make_org: MakeOrg, machine: LocalStateMachine, configure: Callable[..., None]
) -> None:
    org = make_org(customers=10, invoices=10)
    # The client's own retry gives up (one retry, both answered 503): the state's Retry takes over.
    configure(ZOHO_MAX_RETRIES="1", ZOHO_BACKOFF_BASE_SECONDS="0.01")
    org.control.inject("contacts.list", "503", count=2, organization_id=org.organization_id)
    execution = machine.execute({"userIds": [org.user_id]})
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.invocations["zoho-sync-customer-sync"] == 2  # failed once (ZohoUnavailable), then succeeded
    assert counts(db, org.user_id)[0] > 0
