"""Issue 23: quiet tenants in batches (TenantBatch, the QuietTenants Map's EXPRESS children), every other
one on the standard path, and RestTenants sending there every quiet tenant a batch did not see through."""

from __future__ import annotations

from typing import Any

from books_sync.db import Database
from books_sync.storage import tenants as tenant_store
from tests.support import HANDLERS, MakeOrg, Org, run_until_success, work_listed
from zoho_sync_cli.lambda_context import LocalLambdaContext
from zoho_sync_cli.local_state_machine import LocalStateMachine

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:zoho-books-sync-sync:quiet-path"


def quiet_orgs(make_org: MakeOrg, count: int) -> list[Org]:
    """Tenants past their first sync: quiet."""
    orgs = [make_org(customers=4, invoices=6, seed=40 + number) for number in range(count)]
    for org in orgs:
        assert run_until_success(org.user_id)[-1].error is None
    return orgs


def batch(orgs: list[Org], timeout_seconds: float = 280.0) -> dict[str, Any]:
    event = {"Items": [{"userId": org.user_id} for org in orgs], "BatchInput": {"executionId": EXECUTION}}
    return dict(HANDLERS["tenant-batch"](event, LocalLambdaContext("tenant-batch", timeout_seconds=timeout_seconds)))


def selection(db: Database) -> dict[str, Any]:
    return dict(HANDLERS["tenants"]({"request": {}, "executionId": EXECUTION}, LocalLambdaContext("tenants")))


def rest(chosen: dict[str, Any]) -> list[str]:
    written = HANDLERS["rest-tenants"]({"executionId": EXECUTION, "selection": chosen}, LocalLambdaContext("rest"))
    return work_listed({"workLists": {"rest": written}}, "rest")


def steps_of(db: Database, user_id: str) -> dict[str, str]:
    rows = db.run("SELECT step, status FROM step_runs WHERE user_id = :u AND execution_id = :e", u=user_id, e=EXECUTION)
    return {str(step): str(status) for step, status in rows}


def test_a_batch_runs_each_tenants_three_steps_and_the_rest_list_is_the_heavy_ones(
    db: Database, make_org: MakeOrg, work_lists: str
) -> None:
    quiet = quiet_orgs(make_org, 3)
    new = make_org(customers=3, invoices=3, seed=49)  # no first sync: the standard path
    chosen = selection(db)
    assert sorted(work_listed(chosen, "quiet")) == sorted(org.user_id for org in quiet)
    assert work_listed(chosen, "heavy") == [new.user_id]

    assert batch(quiet) == {"tenants": 3, "done": 3, "left": 0, "failed": 0}

    for org in quiet:
        assert steps_of(db, org.user_id) == {"customer-sync": "ok", "invoice-sync": "ok", "reminders": "ok"}
    assert rest(chosen) == [new.user_id]  # every quiet one seen through


def test_what_a_batch_does_not_see_through_goes_to_the_standard_path(
    db: Database, make_org: MakeOrg, work_lists: str
) -> None:
    """A failing tenant (retried there with the state machine's retries) and the tenants a batch had no
    time for go to the rest list; one that now needs re-authorization does not (it is reported)."""
    done, broken, revoked, late = quiet_orgs(make_org, 4)
    chosen = selection(db)
    broken.control.inject("contacts.list", "invalid_id", count=100, organization_id=broken.organization_id)
    revoked.control.revoke_refresh_token(revoked.refresh_token)
    db.run("UPDATE zoho_connections SET access_token = NULL WHERE user_id = :u", u=revoked.user_id)

    assert batch([done, broken, revoked]) == {"tenants": 3, "done": 1, "left": 0, "failed": 2}
    assert batch([late], timeout_seconds=30) == {"tenants": 1, "done": 0, "left": 1, "failed": 0}  # < margin + 15 s

    assert tenant_store.require(db, revoked.user_id).status == "needs_reauth"
    assert sorted(rest(chosen)) == sorted([broken.user_id, late.user_id])
    broken.control.clear_faults()


def test_an_execution_sees_every_quiet_tenant_through_even_those_its_batches_left(
    db: Database, make_org: MakeOrg
) -> None:
    """Through the real definition: two quiet tenants, one of which the batch cannot finish (its organization
    answers a 503 once, after the client's retries); the standard path's retries take it to the end."""
    first, second = quiet_orgs(make_org, 2)
    second.control.inject("contacts.list", "503", count=5, organization_id=second.organization_id)  # 1 + 4 retries
    with LocalStateMachine().running() as machine:
        execution = machine.execute({})
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.invocations.get("zoho-sync-tenant-batch") == 1
    assert execution.invocations.get("zoho-sync-reminders") == 1  # the standard path: the left tenant only
    assert execution.outcome(first.user_id) == execution.outcome(second.user_id) == "synced"
