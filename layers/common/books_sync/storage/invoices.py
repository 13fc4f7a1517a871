"""SQL for `invoices_cache`. Writes are set-based: one statement per page, never one per row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from books_sync.db import Database, to_json
from books_sync.storage.lookups import STILL_LIVE, TENANT, cached_ids, one_cached
from books_sync.storage.upserts import UpsertCounts

_UPSERT_PAGE = f"""
WITH page AS (
    SELECT *
      FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
           zoho_invoice_id text, customer_id uuid, invoice_number text, status text, invoice_date date,
           due_date date, total numeric, balance numeric, currency_code text, payment_expected_date date,
           zoho_last_modified_at timestamptz)
), compared AS (
    SELECT p.*, i.id AS existing_id,
           i.id IS NOT NULL
           AND (i.customer_id, i.invoice_number, i.status, i.invoice_date, i.due_date, i.total, i.balance,
                i.currency_code, i.payment_expected_date, i.zoho_last_modified_at, i.deleted_at)
               IS NOT DISTINCT FROM
               (p.customer_id, p.invoice_number, p.status, p.invoice_date, p.due_date, p.total, p.balance,
                p.currency_code, p.payment_expected_date, p.zoho_last_modified_at, NULL::timestamptz) AS same
      FROM page AS p
      LEFT JOIN LATERAL {one_cached("invoices_cache", "*", "p.zoho_invoice_id")} AS i ON true  -- one key lookup per row
), touched AS (
    UPDATE invoices_cache AS i
       SET local_last_synced_at = now(), reconciled_at = greatest(i.reconciled_at, CAST(:seen_at AS timestamptz))
      FROM compared AS c
     WHERE c.same AND i.id = c.existing_id
 RETURNING 1
), upserted AS (
    INSERT INTO invoices_cache AS i (
           user_id, zoho_invoice_id, customer_id, invoice_number, status, invoice_date, due_date, total,
           balance, currency_code, payment_expected_date, zoho_last_modified_at, local_last_synced_at, reconciled_at)
    SELECT :user_id, c.zoho_invoice_id, c.customer_id, c.invoice_number, c.status, c.invoice_date, c.due_date,
           c.total, c.balance, c.currency_code, c.payment_expected_date, c.zoho_last_modified_at, now(),
           CAST(:seen_at AS timestamptz)
      FROM compared AS c
     WHERE NOT c.same
    ON CONFLICT (user_id, zoho_invoice_id) DO UPDATE SET
           customer_id = EXCLUDED.customer_id,
           invoice_number = EXCLUDED.invoice_number,
           status = EXCLUDED.status,
           invoice_date = EXCLUDED.invoice_date,
           due_date = EXCLUDED.due_date,
           total = EXCLUDED.total,
           balance = EXCLUDED.balance,
           currency_code = EXCLUDED.currency_code,
           payment_expected_date = EXCLUDED.payment_expected_date,
           zoho_last_modified_at = EXCLUDED.zoho_last_modified_at,
           local_last_synced_at = now(),
           reconciled_at = greatest(i.reconciled_at, EXCLUDED.reconciled_at),
           deleted_at = NULL,
           updated_at = now()
     -- an older copy (a retried skip, an overlap re-read) never overwrites a newer one
     -- a copy whose time is unknown (Zoho's was later than now) is stored, and never blocks a true one later
     WHERE i.zoho_last_modified_at IS NULL OR EXCLUDED.zoho_last_modified_at IS NULL
        OR EXCLUDED.zoho_last_modified_at >= i.zoho_last_modified_at
 RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM upserted WHERE inserted),
       (SELECT count(*) FROM upserted WHERE NOT inserted),
       (SELECT count(*) FROM touched)
"""  # noqa: S608  # nosec B608 - constants


def upsert_page(
    db: Database, user_id: str, rows: Sequence[dict[str, Any]], seen_at: datetime | None = None
) -> UpsertCounts:
    """Insert new, update changed, touch `local_last_synced_at` of unchanged: one statement, rows in id order.

    `seen_at`: Zoho showed these rows no earlier than this (a list page, a read by id), so they are
    not deleted (`reconciled_at`); None for rows that come from our own store (a held-back invoice).
    """
    if not rows:
        return UpsertCounts()
    ordered = sorted(rows, key=lambda r: str(r["zoho_invoice_id"]))
    result = db.run(_UPSERT_PAGE, user_id=user_id, rows=to_json(ordered), seen_at=seen_at)
    return UpsertCounts.from_row(result[0])


_BEHIND = f"""
SELECT l.id
  FROM jsonb_to_recordset(CAST(:listed AS jsonb)) AS l(id text, modified timestamptz)
  LEFT JOIN LATERAL {one_cached("invoices_cache", "id, zoho_last_modified_at", "l.id")} AS i ON true
 WHERE (i.id IS NULL AND l.modified >= :window_start)  -- the sync window's rule, as for a pass
    OR (i.id IS NOT NULL AND l.modified IS NOT NULL
        AND (i.zoho_last_modified_at IS NULL OR i.zoho_last_modified_at < l.modified))
"""  # noqa: S608  # nosec B608 - constants


def behind(
    db: Database, user_id: str, listed: Sequence[tuple[str, datetime | None]], window_start: datetime
) -> set[str]:
    """Of the invoices a Zoho list shows (id, modification time), those the cache lacks (modified within
    the sync window) or holds older."""
    if not listed:
        return set()
    pairs = to_json([{"id": i, "modified": m} for i, m in listed])
    rows = db.run(_BEHIND, user_id=user_id, listed=pairs, window_start=window_start)
    return {row[0] for row in rows}


def mark_seen_open(db: Database, user_id: str, zoho_ids: Sequence[str], seen_at: datetime) -> int:
    """Reconcile: these invoices are among Zoho's unpaid ones; returns how many are cached."""
    return db.count_rows(
        "UPDATE invoices_cache AS u SET reconciled_at = greatest(u.reconciled_at, CAST(:seen_at AS timestamptz)) "  # noqa: S608 - constants
        f"WHERE {cached_ids('invoices_cache', 'u')} RETURNING 1",  # nosec B608 - constants
        user_id=user_id,
        seen_at=seen_at,
        ids=zoho_ids,
    )


def open_unseen_since(
    db: Database, user_id: str, started_at: datetime, limit: int, after: str | None = None
) -> list[str]:
    """Cached as open, but not in Zoho's unpaid list since the reconcile began: to check one by one; in our
    id order after the invoice `after` (a Zoho id), so that a walk through them reads each open invoice
    once (a range of the open invoices' index, 0022)."""
    rows = db.run(
        f"""
        SELECT zoho_invoice_id FROM open_invoices
         WHERE user_id = {TENANT}
           AND id > coalesce((SELECT id FROM {one_cached("invoices_cache", "id", ":after")} AS a),
                             '00000000-0000-0000-0000-000000000000')
           AND created_at < :started_at
           AND (reconciled_at IS NULL OR reconciled_at < :started_at)
         ORDER BY id
         LIMIT :limit
        """,  # noqa: S608  # nosec B608 - constants
        user_id=user_id,
        started_at=started_at,
        limit=limit,
        after=after,
    )
    return [row[0] for row in rows]


def mark_deleted(db: Database, user_id: str, zoho_ids: Sequence[str]) -> int:
    """Deleted in Zoho: kept, marked, and no longer open (its reminders are cancelled by the reminders step)."""
    return db.count_rows(
        "UPDATE invoices_cache AS u SET deleted_at = now(), updated_at = now() "  # noqa: S608 - constants
        f"WHERE {cached_ids('invoices_cache', 'u', live=True)} AND {STILL_LIVE} RETURNING 1",  # nosec B608
        user_id=user_id,
        ids=zoho_ids,
    )


def open_count(db: Database, user_id: str) -> int:
    return int(db.scalar("SELECT count(*) FROM open_invoices WHERE user_id = :user_id", user_id=user_id))
