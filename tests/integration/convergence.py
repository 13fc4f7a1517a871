"""Checks shared by the fault tests: rerun until a run succeeds; cursors never ahead of data."""

from __future__ import annotations

from books_sync.db import Database
from zoho_sync_cli.pipeline import TenantRun, run_tenant


def run_until_success(user_id: str, attempts: int = 30) -> list[TenantRun]:
    """Run the pipeline for the tenant again while a step reports failure, as the next schedule would."""
    runs = [run_tenant(user_id)]
    while runs[-1].error is not None:
        assert len(runs) < attempts, f"no success after {attempts} runs: {runs[-1].error}"
        runs.append(run_tenant(user_id))
    return runs


def assert_cursors_behind_data(db: Database, user_id: str) -> None:
    """Each step's cursor is set and no later than the newest row it committed."""
    row = db.one(
        "SELECT m.customer_cursor <= (SELECT max(zoho_last_modified_at) FROM customers_cache WHERE user_id = :u) "
        "AS customers_ok, m.invoice_cursor <= (SELECT max(zoho_last_modified_at) FROM invoices_cache "
        "WHERE user_id = :u) AS invoices_ok FROM sync_metadata AS m WHERE m.user_id = :u",
        u=user_id,
    )
    assert row is not None and row["customers_ok"] and row["invoices_ok"]
