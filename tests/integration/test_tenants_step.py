"""The ListTenants step against a real database."""

from __future__ import annotations

import pytest

from books_sync.db import Database
from books_sync.errors import EventError
from books_sync.storage import tenants as tenant_store
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
        "tenants": [{"userId": "u1", "fullResync": False}, {"userId": "u2", "fullResync": False}],
        "fullResync": False,
        "maxConcurrency": 5,
        "unknownUserIds": [],
        "needsReauth": ["u3"],
        "notSynced": [{"userId": "u3", "status": "needs_reauth", "reason": "refresh token revoked"}],
    }


def test_explicit_ids_with_unknown_ones_reported(three_tenants: Database) -> None:
    out = lambda_handler({"userIds": ["u2", "ghost"], "fullResync": True}, LocalLambdaContext("tenants"))
    assert out["tenants"] == [{"userId": "u2", "fullResync": True}]
    assert out["unknownUserIds"] == ["ghost"]


def test_malformed_event_fails_fast(three_tenants: Database) -> None:
    with pytest.raises(EventError, match="userIds: expected a list"):
        lambda_handler({"userIds": "u1"}, LocalLambdaContext("tenants"))


def test_auto_migrate_applies_pending_migrations(empty_db_url: str, env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", empty_db_url)
    env.setenv("AUTO_MIGRATE", "true")
    out = lambda_handler({}, LocalLambdaContext("tenants"))
    assert out["tenants"] == []
