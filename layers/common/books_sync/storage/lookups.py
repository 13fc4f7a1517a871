"""The cached rows a page names, found by one unique-index lookup per Zoho id.

A page's statement must read rows in proportion to the page, never to the tenant. Written as
`user_id = :u AND zoho_id = ANY(:ids)` or as a join, Postgres plans it from its statistics, and a
large tenant that the statistics do not know yet (a new one, right after its first sync; or any
tenant on a fleet database where it is too small a share to trigger an analyze) looks like a
hundred rows: the plan reads all of the tenant's rows to find the page's 200, on every page, and a
pass becomes quadratic (measured: 100,000 rows read per page at 100,000 customers). A LATERAL
subquery that the planner may not flatten (`OFFSET 0`) is run once per id, on the unique key's index.

That index is taken only if the planner cannot see which tenant it is (`TENANT`). Where the statistics
know other tenants and not this one (a fleet database whose tenants were all analyzed before this one
arrived), the planner takes this tenant for a single row, and any index that starts with `user_id`
looks as good: it took the smaller one on `(user_id, plan_inputs_xid)` and filtered all of the
tenant's rows for each id (measured: 20,000 index entries and 20,000 rows per id of a 20,000-customer
tenant).
"""

from __future__ import annotations

from typing import Literal

# The tenant as a value the planner does not look at when it plans (an InitPlan, run once): it estimates
# an average tenant's share of the table, never "too few rows to matter" from stale statistics.
TENANT = "(SELECT CAST(:user_id AS text))"

Table = Literal["customers_cache", "invoices_cache"]
ZOHO_ID = {"customers_cache": "zoho_customer_id", "invoices_cache": "zoho_invoice_id"}


def one_cached(table: Table, columns: str, zoho_id: str, *, live: bool = False) -> str:
    """A LATERAL-ready subquery: `columns` of the tenant's (`:user_id`) row of `table` whose Zoho id is the
    SQL expression `zoho_id` (`live`: if not marked deleted), by one lookup on the unique key."""
    condition = " AND deleted_at IS NULL" if live else ""
    return (
        f"(SELECT {columns} FROM {table} WHERE user_id = {TENANT} "  # noqa: S608 - constants
        f"AND {ZOHO_ID[table]} = {zoho_id}{condition} OFFSET 0)"  # nosec B608 - our SQL, no input
    )


def each_cached(
    table: Table, columns: str, ids: str = "CAST(:ids AS text[])", alias: str = "c", *, live: bool = False
) -> str:
    """FROM-clause SQL: `<alias>`'s `columns` of the tenant's (`:user_id`) rows of `table` for the Zoho ids
    in the array expression `ids` (`live`: those not marked deleted); ids not cached give no row."""
    lookup = one_cached(table, columns, "listed.zoho_id", live=live)
    return f"unnest({ids}) AS listed(zoho_id) CROSS JOIN LATERAL {lookup} AS {alias}"


# The UPDATE target (`u`) still not deleted once its lock is had (a concurrent deletion is not counted
# twice), written so that no partial index of live rows matches: beside the key, the planner combined
# one and read all of its entries (20,000 for a page, with `u.deleted_at IS NULL`).
STILL_LIVE = "CASE WHEN u.deleted_at IS NULL THEN true ELSE false END"


def cached_ids(table: Table, target: str, ids: str = "CAST(:ids AS text[])", *, live: bool = False) -> str:
    """A condition for an UPDATE of `table` (called `target` there): its row is one of the tenant's rows for
    the Zoho ids `ids` (`live`: not marked deleted), matched on the primary key from the lookups above. A
    condition on the target itself may bring in a partial index (see `STILL_LIVE`)."""
    return f"{target}.id = ANY(ARRAY(SELECT c.id FROM {each_cached(table, 'id', ids, live=live)}))"  # noqa: S608  # nosec B608 - our SQL
