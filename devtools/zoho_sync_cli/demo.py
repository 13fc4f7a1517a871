"""`zoho-sync demo`: the whole system on this machine, no AWS, no Zoho."""

from __future__ import annotations

from books_sync.db import connect_from_settings
from books_sync.migrator import migrate
from books_sync.settings import get_settings
from books_sync.storage import tenants
from zoho_sync_cli.tables import render


def run_demo() -> int:
    settings = get_settings()
    db = connect_from_settings(settings)
    try:
        applied = migrate(db)
        print(f"database: {db.params.describe()} ({len(applied)} migration(s) applied)")
        tenants.upsert(db, user_id="demo-tenant", organization_id="60000000001", refresh_token="demo-refresh-token")  # noqa: S106
        rows = tenants.list_all(db)
    finally:
        db.close()
    print(
        render(
            ["user", "organization", "dc", "status"],
            [[t.user_id, t.organization_id, t.data_center, t.status] for t in rows],
        )
    )
    return 0
