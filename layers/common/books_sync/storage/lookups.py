"""The cached rows a page names, found by one unique-index lookup per Zoho id.

A page's statement must read rows in proportion to the page, never to the tenant. Written as
`user_id = :u AND zoho_id = ANY(:ids)` or as a join, Postgres plans it from its statistics, and a
large tenant that the statistics do not know yet (a new one, right after its first sync; or any
tenant on a fleet database where it is too small a share to trigger an analyze) looks like a
hundred rows: the plan reads all of the tenant's rows to find the page's 200, on every page, and a
pass becomes quadratic (measured: 100,000 rows read per page at 100,000 customers). A LATERAL
subquery that the planner may not flatten (`OFFSET 0`) is run once per id, and an equality on every
column of the unique key always takes that key's index.
"""

from __future__ import annotations

from typing import Literal

Table = Literal["customers_cache", "invoices_cache"]
ZOHO_ID = {"customers_cache": "zoho_customer_id", "invoices_cache": "zoho_invoice_id"}


def each_cached(
    table: Table, columns: str, ids: str = "CAST(:ids AS text[])", alias: str = "c", *, live: bool = False
) -> str:
    """FROM-clause SQL: `<alias>`'s `columns` of the tenant's (`:user_id`) rows of `table` for the Zoho ids
    in the array expression `ids` (`live`: those not marked deleted); ids not cached give no row."""
    condition = " AND deleted_at IS NULL" if live else ""
    return (
        f"unnest({ids}) AS listed(zoho_id) CROSS JOIN LATERAL (SELECT {columns} FROM {table} "  # noqa: S608 - constants
        f"WHERE user_id = :user_id AND {ZOHO_ID[table]} = listed.zoho_id{condition} OFFSET 0) AS {alias}"  # nosec B608 - our SQL, no input
    )


# The UPDATE target (`u`) still not deleted once its lock is had (a concurrent deletion is not counted
# twice), written so that no partial index of live rows matches: beside the key, the planner combined
# one and read all of its entries (20,000 for a page, with `u.deleted_at IS NULL`).
STILL_LIVE = "CASE WHEN u.deleted_at IS NULL THEN true ELSE false END"


def cached_ids(table: Table, target: str, ids: str = "CAST(:ids AS text[])", *, live: bool = False) -> str:
    """A condition for an UPDATE of `table` (called `target` there): its row is one of the tenant's rows for
    the Zoho ids `ids` (`live`: not marked deleted), matched on the primary key from the lookups above. A
    condition on the target itself may bring in a partial index (see `STILL_LIVE`)."""
    return f"{target}.id = ANY(ARRAY(SELECT c.id FROM {each_cached(table, 'id', ids, live=live)}))"  # noqa: S608  # nosec B608 - our SQL
