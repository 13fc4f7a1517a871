"""The ListTenants step against a real database."""

from __future__ import annotations

import json

import pytest

from books_sync.db import Database
from books_sync.errors import EventError, SchemaBehind
from books_sync.migrator import discover
from books_sync.storage import leases, step_runs
from books_sync.storage import tenants as tenant_store
from migrate_schema.handler import lambda_handler as migrate_handler
from tenants.failure_handler import lambda_handler as record_failure
from tenants.handler import lambda_handler
from tests.support import work_listed
from zoho_sync_cli.lambda_context import LocalLambdaContext


@pytest.fixture
def three_tenants(db: Database, work_lists: str) -> Database:
    for user_id in ("u1", "u2", "u3"):
        tenant_store.upsert(db, user_id=user_id, organization_id=f"org-{user_id}", refresh_token="rt")
    tenant_store.set_status(db, "u3", "needs_reauth", "refresh token revoked")
    return db


def test_empty_input_selects_every_active_tenant_and_reports_the_others(three_tenants: Database) -> None:
    out = lambda_handler({}, LocalLambdaContext("tenants"))
    assert (work_listed(out, "quiet"), work_listed(out, "heavy")) == ([], ["u1", "u2"])  # no first sync yet
    lists = out.pop("workLists")
    assert {name: (ref["bucket"], ref["count"]) for name, ref in lists.items()} == {
        "quiet": ("zoho-sync-test-work-lists", 0),
        "heavy": ("zoho-sync-test-work-lists", 2),
    }
    assert out == {
        "fullResync": False,
        "maxConcurrency": 5,
        "maxRounds": 8,
        "quietConcurrency": 20,
        "quietBatchSize": 25,
        "unknownUserIds": [],
        "needsReauth": ["u3"],
        "notSynced": [{"userId": "u3", "status": "needs_reauth", "reason": "refresh token revoked"}],
        "inFlight": [],
        "backingOff": [],
        "restingOnWebhooks": [],
        "overlapping": None,
        "counts": {
            "tenants": 2,
            "quiet": 0,
            "heavy": 2,
            "unknown": 0,
            "needsReauth": 1,
            "notSynced": 1,
            "inFlight": 0,
            "backingOff": 0,
            "restingOnWebhooks": 0,
        },
    }


def test_quiet_tenants_and_the_others_go_to_separate_lists(three_tenants: Database) -> None:
    """Quiet: both passes ended once, none in progress, not failing. Everything else takes the standard path."""
    three_tenants.run("UPDATE sync_metadata SET last_customer_sync_at = now(), last_invoice_sync_at = now()")
    out = lambda_handler({}, LocalLambdaContext("tenants"))
    assert (work_listed(out, "quiet"), work_listed(out, "heavy")) == (["u1", "u2"], [])
    for change in (
        "invoice_checkpoint = '{}'::jsonb",  # a pass in progress
        "customer_checkpoint = '{}'::jsonb",
        "failed_runs = 1",  # failing: the standard path's retries
        "last_invoice_sync_at = NULL",  # no pass ended yet
    ):
        three_tenants.run(f"UPDATE sync_metadata SET {change} WHERE user_id = 'u2'")  # noqa: S608
        out = lambda_handler({}, LocalLambdaContext("tenants"))
        assert (work_listed(out, "quiet"), work_listed(out, "heavy")) == (["u1"], ["u2"]), change
        three_tenants.run(
            "UPDATE sync_metadata SET invoice_checkpoint = NULL, customer_checkpoint = NULL, failed_runs = 0, "
            "last_invoice_sync_at = now() WHERE user_id = 'u2'"
        )
    full = lambda_handler({"fullResync": True}, LocalLambdaContext("tenants"))
    assert (work_listed(full, "quiet"), work_listed(full, "heavy")) == ([], ["u1", "u2"])  # a full resync is long


def test_explicit_ids_with_unknown_ones_reported(three_tenants: Database) -> None:
    out = lambda_handler({"userIds": ["u2", "ghost"], "fullResync": True}, LocalLambdaContext("tenants"))
    assert (work_listed(out), out["fullResync"]) == (["u2"], True)
    assert out["unknownUserIds"] == ["ghost"]


def test_malformed_event_fails_fast(three_tenants: Database) -> None:
    with pytest.raises(EventError, match="userIds: expected a list"):
        lambda_handler({"userIds": "u1"}, LocalLambdaContext("tenants"))


def test_a_schema_behind_the_code_is_refused_and_the_migrate_function_brings_it_up(
    empty_db_url: str, env: pytest.MonkeyPatch, work_lists: str
) -> None:
    env.setenv("DATABASE_URL", empty_db_url)
    with pytest.raises(SchemaBehind, match=r"no schema at all, this code needs \d+: run the migrations first"):
        lambda_handler({}, LocalLambdaContext("tenants"))
    migrated = migrate_handler({}, LocalLambdaContext("migrate"))
    assert migrated["version"] == discover()[-1].version and len(migrated["applied"]) == migrated["version"]
    assert migrate_handler({}, LocalLambdaContext("migrate"))["applied"] == []  # nothing twice
    assert work_listed(lambda_handler({}, LocalLambdaContext("tenants"))) == []


def test_the_migrate_function_refuses_a_bad_event(db: Database) -> None:
    with pytest.raises(EventError, match="to: expected a migration number"):
        migrate_handler({"to": "12"}, LocalLambdaContext("migrate"))


def test_tenants_in_flight_in_another_execution_are_left_alone_and_reported(three_tenants: Database) -> None:
    assert leases.take(three_tenants, "u2", "arn:aws:states:::execution:sync:earlier", "invoice-sync", 600) is None
    out = lambda_handler({}, LocalLambdaContext("tenants"))
    assert work_listed(out) == ["u1"]
    assert out["inFlight"] == [
        {"userId": "u2", "heldBy": "arn:aws:states:::execution:sync:earlier", "step": "invoice-sync"}
    ]
    three_tenants.run("UPDATE tenant_leases SET expires_at = now() - interval '1 second'")
    assert work_listed(lambda_handler({}, LocalLambdaContext("tenants"))) == [
        "u1",
        "u2",
    ]  # an expired lease: free again


def test_the_selection_stays_small_however_many_tenants(db: Database, work_lists: str) -> None:
    """No tenant id travels through the state machine's payload (256 KB): ListTenants' output is the
    same size for 3,000 tenants as for 3; the ids are in the work lists (S3)."""
    sizes = {}
    for count in (3, 3000):
        db.run("DELETE FROM users")
        db.run(
            "INSERT INTO users (id) SELECT 'tenant-' || lpad(i::text, 5, '0') FROM generate_series(1, :n) AS i", n=count
        )
        db.run(
            "INSERT INTO zoho_connections (user_id, organization_id, refresh_token, token_key_id) "
            "SELECT id, '60000000001', 'local:v2:00:AA', 'local:00' FROM users"
        )
        db.run("INSERT INTO sync_metadata (user_id) SELECT id FROM users")
        out = lambda_handler({}, LocalLambdaContext("tenants"))
        assert len(work_listed(out)) == count
        sizes[count] = len(json.dumps(out))
    assert sizes[3000] - sizes[3] <= 4 * len("000") and sizes[3000] < 2000, sizes  # only the counts grow


def _caught(user_id: str, error: str, cause: str = "") -> dict[str, object]:
    return {"userId": user_id, "executionId": "exec-1", "error": {"Error": error, "Cause": cause}}


def test_record_failure_names_a_timed_out_step_and_leaves_a_recorded_failure_and_an_inactive_tenant(
    three_tenants: Database,
) -> None:
    """RecordFailure: a step left `running` (a Lambda timeout) gets the caught error; a failure the step
    recorded is kept; a tenant disabled or removed since ListTenants is not a failure (skipped)."""
    db = three_tenants
    step_runs.started(db, "u1", "customer-sync", "exec-1")
    step_runs.finished(db, "u1", "customer-sync", {"status": "ok"}, None)
    step_runs.started(db, "u1", "invoice-sync", "exec-1")  # the Lambda timed out here
    timed_out = record_failure(_caught("u1", "States.Timeout", "Task timed out"), LocalLambdaContext("record"))
    assert timed_out == {"recorded": "invoice-sync"}
    row = db.run("SELECT status, error FROM step_runs WHERE user_id = 'u1' AND step = 'invoice-sync'")[0]
    assert row == ["failed", "States.Timeout (caught by the state machine)"]
    cause = json.dumps({"errorMessage": "boom", "errorType": "X", "stackTrace": ["secret frame"]})
    assert record_failure(_caught("u1", "X", cause), LocalLambdaContext("record")) == {"recorded": None}
    assert db.scalar("SELECT error FROM step_runs WHERE user_id = 'u1' AND step = 'invoice-sync'").startswith("States")
    gone = record_failure(
        _caught("u2", "TenantNotActive", json.dumps({"errorMessage": "u2 is disabled"})), LocalLambdaContext("r")
    )
    assert gone == {"recorded": None}
    assert db.scalar("SELECT count(*) FROM step_runs WHERE user_id = 'u2'") == 0
    before = record_failure(_caught("u2", "DatabaseUnavailable", cause), LocalLambdaContext("record"))
    assert before == {"recorded": "customer-sync"}  # nothing recorded yet: the first step is the one that failed
    error = db.scalar("SELECT error FROM step_runs WHERE user_id = 'u2' AND step = 'customer-sync'")
    assert error == "DatabaseUnavailable: boom (caught by the state machine)"  # the message, never the stack trace
