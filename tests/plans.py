"""A new tenant's stale statistics, and what a statement reads on them: the rows Postgres fetched, counted
from its own statistics (`pg_stat_xact_user_tables`), and the nodes of a plan."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from books_sync.db import Database

STALE_TABLES = ("customers_cache", "invoices_cache", "reminders", "invoice_sync_skips")


def make_statistics_stale(db: Database) -> None:
    """Statistics of a tenant-less database, and they stay so (the database is the test's): right after a
    new tenant's first sync, the planner knows nothing of its rows."""
    db.run(f"ANALYZE {', '.join(STALE_TABLES)}")
    for table in STALE_TABLES:
        db.run(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")


def add_stale_tenant(db: Database, user_id: str, n_customers: int, n_invoices: int) -> None:
    """`add_tenant`'s rows, written after the statistics were taken."""
    make_statistics_stale(db)
    add_tenant(db, user_id, n_customers, n_invoices)


ANALYZED = ("analyzed-1", "analyzed-2", "analyzed-3", "analyzed-4")


def add_analyzed_tenants(db: Database, n_customers: int, n_invoices: int) -> None:
    """The tenants a fleet database's statistics know, to be taken next (`make_statistics_stale`): four,
    together `n_customers` and `n_invoices`, with the same Zoho ids as a tenant added after them."""
    for user_id in ANALYZED:
        db.run("INSERT INTO users (id) VALUES (:u)", u=user_id)
        add_tenant(db, user_id, n_customers // len(ANALYZED), n_invoices // len(ANALYZED))


def add_tenant(db: Database, user_id: str, n_customers: int, n_invoices: int) -> None:
    """`n_customers` customers ('c1'...) and `n_invoices` open invoices ('i1'...) spread over them, each
    with a pending reminder."""
    db.run(
        "INSERT INTO customers_cache (user_id, zoho_customer_id, customer_name, sync_hash, zoho_last_modified_at) "
        "SELECT :u, 'c' || g, 'name ' || g, 'h' || g, now() - g * interval '1 minute' "
        "FROM generate_series(1, :n) AS g",
        u=user_id,
        n=n_customers,
    )
    db.run(
        "INSERT INTO invoices_cache (user_id, zoho_invoice_id, customer_id, status, total, balance, due_date, "
        "zoho_last_modified_at) "
        "SELECT :u, 'i' || g, c.id, 'sent', 10, 10, current_date + (g % 40), now() - g * interval '1 second' "
        "FROM generate_series(1, :n) AS g JOIN customers_cache AS c "
        "ON c.user_id = :u AND c.zoho_customer_id = 'c' || (g % :customers + 1)",
        u=user_id,
        n=n_invoices,
        customers=n_customers,
    )
    db.run(
        "INSERT INTO reminders (user_id, invoice_id, offset_days, scheduled_for) "
        "SELECT :u, id, 0, due_date + time '09:00' FROM invoices_cache WHERE user_id = :u",
        u=user_id,
    )


def rows_read(
    db: Database, statements: Callable[[], Any], prepare: Callable[[], object] | None = None
) -> tuple[int, Any]:
    """Rows and index entries Postgres read from our tables (sequential scans, heap fetches, and entries
    its index scans returned) while `statements` ran on `db`, and what they returned; in one transaction
    (after `prepare`, not counted) then rolled back."""
    counted = """
        SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)
               + (SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(x.indexrelid)), 0)
                    FROM pg_index AS x WHERE x.indrelid = ANY(ARRAY(SELECT relid FROM pg_stat_xact_user_tables
                                                                 WHERE relname = ANY(CAST(:tables AS text[])))))
          FROM pg_stat_xact_user_tables WHERE relname = ANY(CAST(:tables AS text[]))
    """
    tables = [*STALE_TABLES, "sync_metadata"]
    db.run("BEGIN")
    try:
        if prepare is not None:
            prepare()
        before = int(db.scalar(counted, tables=tables))
        returned = statements()
        return int(db.scalar(counted, tables=tables)) - before, returned
    finally:
        db.run("ROLLBACK")


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)
