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
from zoho_sync_cli import local_state_machine
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


def step_summary(db: Database, user_id: str, step: str) -> dict[str, Any]:
    """The step's last summary, as the step recorded it in step_runs."""
    return dict(db.scalar("SELECT summary FROM step_runs WHERE user_id = :u AND step = :s", u=user_id, s=step))


def test_happy_path_for_several_tenants(db: Database, make_org: MakeOrg, machine: LocalStateMachine) -> None:
    orgs = [make_org(customers=25, invoices=60, seed=s) for s in (1, 2, 3)]
    execution = machine.execute({})
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None and execution.output["counts"]["synced"] == 3
    for org in orgs:
        assert execution.outcome(org.user_id) == "synced"
        customers, invoices, pending = counts(db, org.user_id)
        assert (customers, invoices) == in_window(org)
        assert pending == step_summary(db, org.user_id, "reminders")["pending"] > 0
    assert execution.invocations["zoho-sync-tenants"] == 1
    assert execution.invocations["zoho-sync-reminders"] == 3
    assert execution.invocations["zoho-sync-summarize"] == 1
    assert db.scalar("SELECT count(*) FROM tenant_leases") == 0  # each tenant's last step gave its lease back
    again = machine.execute({"userIds": [orgs[0].user_id]})
    assert again.status == "SUCCEEDED"
    assert again.output is not None and (again.output["tenants"], again.output["synced"]) == (1, [orgs[0].user_id])
    assert again.output["apiCalls"] <= 3


def _reconcile_pages(db: Database, org: Org) -> int:
    """Zoho's unpaid list pages read by the last run, when it read them (it does every run while short)."""
    row = db.one(
        "SELECT open_invoice_pages, last_invoice_reconcile_at > now() - interval '1 minute' AS now FROM sync_metadata "
        "WHERE user_id = :u",
        u=org.user_id,
    )
    return int(row["open_invoice_pages"]) if row and row["now"] and row["open_invoice_pages"] else 0


def test_has_more_loop_ends_with_the_same_rows_as_one_pass(
    db: Database, make_org: MakeOrg, configure: Callable[..., None]
) -> None:
    configure(MAX_STEP_ROUNDS="50")  # all in one execution
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


def test_a_revoked_token_is_reported_and_does_not_fail_the_execution(
    db: Database, make_org: MakeOrg, machine: LocalStateMachine
) -> None:
    healthy = make_org(customers=10, invoices=20, seed=4)
    revoked = make_org(customers=10, invoices=20, seed=5)
    revoked.control.revoke_refresh_token(revoked.refresh_token)
    execution = machine.execute({"userIds": [healthy.user_id, revoked.user_id]})
    assert execution.status == "SUCCEEDED", execution.cause  # the owner must reconnect: reported, not failed
    assert execution.outcome(healthy.user_id) == "synced"
    assert execution.outcome(revoked.user_id) == "needsReauth"
    assert counts(db, healthy.user_id)[0] > 0
    assert counts(db, revoked.user_id) == (0, 0, 0)
    assert tenant_store.require(db, revoked.user_id).status == "needs_reauth"
    second = machine.execute({})
    assert second.status == "SUCCEEDED"  # still visible, in the summary and the TenantsNeedingReauth metric
    assert second.output is not None and second.output["needsReauth"] == [revoked.user_id]


def test_a_failing_tenant_is_reported_and_retried_later_and_only_a_systemic_failure_fails_the_execution(
    db: Database, make_org: MakeOrg, machine: LocalStateMachine, caplog: pytest.LogCaptureFixture
) -> None:
    """One broken tenant among four: the execution succeeds and reports it (and the others sync); it is
    tried again by the next run, then waits 2 hours; a run that names it still runs it. When at least
    SYSTEMIC_FAILURE_SHARE (half) of the tenants tried fail, the execution fails."""
    healthy = [make_org(customers=10, invoices=20, seed=4 + n) for n in range(3)]
    broken = make_org(customers=10, invoices=20, seed=9)
    # a refusal no retry changes (HTTP 400): the state machine's retries of a 5xx would only make it slower
    broken.control.inject("invoices.list", "invalid_id", count=1000, organization_id=broken.organization_id)
    first = machine.execute({})
    assert first.status == "SUCCEEDED", first.cause
    assert first.outcome(broken.user_id) == "failed: ZohoApiError in invoice-sync"
    assert {first.outcome(org.user_id) for org in healthy} == {"synced"}
    assert first.output is not None and first.output["startedFailing"] == [broken.user_id]
    assert first.output["failed"][0]["retryAfter"] == "next run"
    said = [r for r in caplog.records if r.getMessage() == "tenant failed"]  # one WARN line per failed tenant
    assert [(r.levelname, getattr(r, "userId", None), getattr(r, "error", None)) for r in said] == [
        ("WARNING", broken.user_id, "ZohoApiError")
    ]
    assert counts(db, broken.user_id)[0] > 0  # its customers were synced before the invoice step failed
    second = machine.execute({})
    assert second.outcome(broken.user_id).startswith("failed") and second.output is not None
    assert second.output["startedFailing"] == []  # not a new failure: no new alarm
    third = machine.execute({})
    assert third.output is not None and [b["userId"] for b in third.output["backingOff"]] == [broken.user_id]
    assert third.outcome(broken.user_id) == "?"  # left out: it waits about 2 hours
    named = machine.execute({"userIds": [broken.user_id, healthy[0].user_id]})
    assert (named.status, named.error) == ("FAILED", "TenantsFailed")  # one of two: a systemic share
    assert named.cause is not None and broken.user_id in named.cause
    broken.control.clear_faults()
    mended = machine.execute({"userIds": [broken.user_id]})
    assert mended.status == "SUCCEEDED" and mended.outcome(broken.user_id) == "synced"
    assert db.scalar("SELECT failed_runs FROM sync_metadata WHERE user_id = :u", u=broken.user_id) == 0


def test_a_step_stops_after_its_rounds_and_the_next_execution_goes_on(
    db: Database, make_org: MakeOrg, configure: Callable[..., None]
) -> None:
    """At most MAX_STEP_ROUNDS calls of a step per tenant per execution: executions stay bounded."""
    org = make_org(customers=450, invoices=0, seed=8)
    configure(MAX_STEP_ROUNDS="2")
    tiny = lambda name: CountdownLambdaContext(name, checks=0 if name.endswith("customer-sync") else 150)  # noqa: E731
    with LocalStateMachine(context_factory=tiny).running() as machine:
        first = machine.execute({"userIds": [org.user_id]})
        assert first.status == "SUCCEEDED", first.cause
        assert (first.invocations["zoho-sync-customer-sync"], first.outcome(org.user_id)) == (2, "continuing")
        executions = [first]
        while executions[-1].outcome(org.user_id) == "continuing" and len(executions) < 10:
            executions.append(machine.execute({"userIds": [org.user_id]}))
    assert executions[-1].outcome(org.user_id) == "synced"
    assert counts(db, org.user_id)[0] == in_window(org)[0]


def test_unknown_tenant_ids_are_reported(make_org: MakeOrg, machine: LocalStateMachine) -> None:
    org = make_org(customers=5, invoices=5)
    execution = machine.execute({"userIds": [org.user_id, "ghost"]})
    assert (execution.status, execution.error) == ("FAILED", "UnknownTenants")
    assert execution.output is not None and execution.output["unknownUserIds"] == ["ghost"]
    assert execution.outcome(org.user_id) == "synced"


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


def test_an_error_before_a_step_records_its_run_is_reported_failed_not_skipped(
    db: Database, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that dies before `step_runs` has its start (the database out, a crash) leaves no record of
    its own: the child's Catch records the caught error (RecordFailure), so Summarize says failed and the
    tenant's run of failures grows, instead of 'skipped' (another run had it) every hour."""
    org = make_org(customers=5, invoices=5, seed=31)

    def dies_first(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise MemoryError("Runtime exited with error: signal: killed")

    monkeypatch.setitem(local_state_machine.FUNCTIONS, "InvoiceSyncFunctionArn", ("zoho-sync-invoice-sync", dies_first))
    with LocalStateMachine().running() as machine:
        execution = machine.execute({"userIds": [org.user_id, make_org(customers=3, invoices=3, seed=32).user_id]})
    assert execution.status == "FAILED" and execution.error == "TenantsFailed"  # both failed: systemic
    assert execution.outcome(org.user_id) == "failed: MemoryError in invoice-sync"
    row = db.run("SELECT status, error FROM step_runs WHERE user_id = :u AND step = 'invoice-sync'", u=org.user_id)
    assert row[0][0] == "failed" and "signal: killed" in row[0][1] and "caught by the state machine" in row[0][1]
    assert db.scalar("SELECT failed_runs FROM sync_metadata WHERE user_id = :u", u=org.user_id) == 1
    assert execution.invocations["zoho-sync-record-failure"] == 2


def test_a_step_that_recorded_its_failure_keeps_it(db: Database, make_org: MakeOrg, machine: LocalStateMachine) -> None:
    """RecordFailure never overwrites what the step said, and a tenant disabled since ListTenants stays skipped."""
    org = make_org(customers=5, invoices=5, seed=33)
    org.control.inject("invoices.list", "invalid_id", count=1000, organization_id=org.organization_id)
    execution = machine.execute({})
    assert execution.outcome(org.user_id) == "failed: ZohoApiError in invoice-sync"
    error = db.scalar("SELECT error FROM step_runs WHERE user_id = :u AND step = 'invoice-sync'", u=org.user_id)
    assert error.startswith("ZohoApiError") and "caught by the state machine" not in error
