"""The ListTenants step against a real database."""

from __future__ import annotations

import json

import pytest

from books_sync.db import Database
from books_sync.errors import EventError, SchemaBehind
from books_sync.migrator import discover
from books_sync.storage import leases
from books_sync.storage import tenants as tenant_store
from migrate_schema.handler import lambda_handler as migrate_handler
from tenants.handler import lambda_handler
from zoho_sync_cli.lambda_context import LocalLambdaContext


@pytest.fixture
def three_tenants(db: Database) -> Database:
    for user_id in ("u1", "u2", "u3"):
        tenant_store.upsert(db, user_id=user_id, organization_id=f"org-{user_id}", refresh_token="rt")
    tenant_store.set_status(db, "u3", "needs_reauth", "refresh token revoked")
    return db


def test_empty_input_selects_every_active_tenant_and_reports_the_others(three_tenants: Database) -> None:
    out = lambda_handler({}, LocalLambdaContext("tenants"))
    assert out == {
        "tenants": ["u1", "u2"],
        "fullResync": False,
        "maxConcurrency": 5,
        "maxRounds": 8,
        "unknownUserIds": [],
        "needsReauth": ["u3"],
        "notSynced": [{"userId": "u3", "status": "needs_reauth", "reason": "refresh token revoked"}],
        "inFlight": [],
        "backingOff": [],
        "overlapping": None,
        "counts": {"tenants": 2, "unknown": 0, "needsReauth": 1, "notSynced": 1, "inFlight": 0, "backingOff": 0},
    }


def test_explicit_ids_with_unknown_ones_reported(three_tenants: Database) -> None:
    out = lambda_handler({"userIds": ["u2", "ghost"], "fullResync": True}, LocalLambdaContext("tenants"))
    assert (out["tenants"], out["fullResync"]) == (["u2"], True)
    assert out["unknownUserIds"] == ["ghost"]


def test_malformed_event_fails_fast(three_tenants: Database) -> None:
    with pytest.raises(EventError, match="userIds: expected a list"):
        lambda_handler({"userIds": "u1"}, LocalLambdaContext("tenants"))


def test_a_schema_behind_the_code_is_refused_and_the_migrate_function_brings_it_up(
    empty_db_url: str, env: pytest.MonkeyPatch
) -> None:
    env.setenv("DATABASE_URL", empty_db_url)
    with pytest.raises(SchemaBehind, match=r"no schema at all, this code needs \d+: run the migrations first"):
        lambda_handler({}, LocalLambdaContext("tenants"))
    migrated = migrate_handler({}, LocalLambdaContext("migrate"))
    assert migrated["version"] == discover()[-1].version and len(migrated["applied"]) == migrated["version"]
    assert migrate_handler({}, LocalLambdaContext("migrate"))["applied"] == []  # nothing twice
    assert lambda_handler({}, LocalLambdaContext("tenants"))["tenants"] == []


def test_the_migrate_function_refuses_a_bad_event(db: Database) -> None:
    with pytest.raises(EventError, match="to: expected a migration number"):
        migrate_handler({"to": "12"}, LocalLambdaContext("migrate"))


def test_tenants_in_flight_in_another_execution_are_left_alone_and_reported(three_tenants: Database) -> None:
    assert leases.take(three_tenants, "u2", "arn:aws:states:::execution:sync:earlier", "invoice-sync", 600) is None
    out = lambda_handler({}, LocalLambdaContext("tenants"))
    assert out["tenants"] == ["u1"]
    assert out["inFlight"] == [
        {"userId": "u2", "heldBy": "arn:aws:states:::execution:sync:earlier", "step": "invoice-sync"}
    ]
    three_tenants.run("UPDATE tenant_leases SET expires_at = now() - interval '1 second'")
    assert lambda_handler({}, LocalLambdaContext("tenants"))["tenants"] == ["u1", "u2"]  # an expired lease: free again


def test_the_selection_stays_small_however_many_tenants(db: Database) -> None:
    """Each tenant costs its id and its separators in the state machine's payload (limit 256 KB)."""
    for user_id in (f"tenant-{i:04d}" for i in range(300)):
        tenant_store.upsert(db, user_id=user_id, organization_id="60000000001", refresh_token="rt")
    out = lambda_handler({}, LocalLambdaContext("tenants"))
    per_tenant = len(json.dumps(out["tenants"])) / len(out["tenants"])
    assert per_tenant <= len('"tenant-0000", ')
    assert len(json.dumps(out)) < 300 * per_tenant + 1000
