"""SQL for `customers_cache`. Writes are set-based: one statement per page, never one per row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from books_sync.db import Database, to_json
from books_sync.storage.upserts import UpsertCounts


@dataclass(frozen=True)
class Cached:
    sync_hash: str | None
    deleted: bool


def cached(db: Database, user_id: str, zoho_ids: Sequence[str]) -> dict[str, Cached]:
    """Stored sync hash (and whether it is marked deleted) per Zoho id, for the cached ids of one page."""
    if not zoho_ids:
        return {}
    rows = db.run(
        "SELECT zoho_customer_id, sync_hash, deleted_at IS NOT NULL FROM customers_cache "
        "WHERE user_id = :user_id AND zoho_customer_id = ANY(CAST(:ids AS text[]))",
        user_id=user_id,
        ids=list(zoho_ids),
    )
    return {row[0]: Cached(row[1], bool(row[2])) for row in rows}


def ids_by_zoho_id(db: Database, user_id: str, zoho_ids: Sequence[str]) -> dict[str, str]:
    """Our customer id (uuid, as text) per Zoho customer id, deleted customers included."""
    if not zoho_ids:
        return {}
    rows = db.run(
        "SELECT zoho_customer_id, id::text FROM customers_cache "
        "WHERE user_id = :user_id AND zoho_customer_id = ANY(CAST(:ids AS text[]))",
        user_id=user_id,
        ids=list(zoho_ids),
    )
    return {row[0]: row[1] for row in rows}


_UPSERT_PAGE = """
WITH page AS (
    SELECT *
      FROM jsonb_to_recordset(CAST(:full_rows AS jsonb)) AS r(
           zoho_customer_id text, customer_name text, primary_phone text, primary_email text,
           contact_persons jsonb, country_code text, timezone text, zoho_last_modified_at timestamptz,
           sync_hash text)
), touched_ids AS (
    SELECT value AS zoho_customer_id FROM jsonb_array_elements_text(CAST(:touch_ids AS jsonb))
), touched AS (
    UPDATE customers_cache AS c
       SET local_last_synced_at = now(),
           deleted_at = NULL,
           updated_at = CASE WHEN c.deleted_at IS NULL THEN c.updated_at ELSE now() END
      FROM touched_ids AS t
     WHERE c.user_id = :user_id
       AND c.zoho_customer_id = t.zoho_customer_id
 RETURNING 1
), upserted AS (
    INSERT INTO customers_cache AS c (
           user_id, zoho_customer_id, customer_name, primary_phone, primary_email, contact_persons,
           country_code, timezone, zoho_last_modified_at, local_last_synced_at, sync_hash)
    SELECT :user_id, p.zoho_customer_id, p.customer_name, p.primary_phone, p.primary_email,
           coalesce(p.contact_persons,
                    (SELECT existing.contact_persons FROM customers_cache AS existing
                      WHERE existing.user_id = :user_id AND existing.zoho_customer_id = p.zoho_customer_id),
                    '[]'::jsonb),
           p.country_code, p.timezone, p.zoho_last_modified_at, now(), p.sync_hash
      FROM page AS p
    ON CONFLICT (user_id, zoho_customer_id) DO UPDATE SET
           customer_name = EXCLUDED.customer_name,
           primary_phone = EXCLUDED.primary_phone,
           primary_email = EXCLUDED.primary_email,
           contact_persons = EXCLUDED.contact_persons,
           country_code = EXCLUDED.country_code,
           timezone = EXCLUDED.timezone,
           zoho_last_modified_at = EXCLUDED.zoho_last_modified_at,
           local_last_synced_at = now(),
           sync_hash = EXCLUDED.sync_hash,
           deleted_at = NULL,
           updated_at = now()
 RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM upserted WHERE inserted),
       (SELECT count(*) FROM upserted WHERE NOT inserted),
       (SELECT count(*) FROM touched)
"""


def upsert_page(
    db: Database, user_id: str, full_rows: Sequence[dict[str, Any]], touch_ids: Sequence[str]
) -> UpsertCounts:
    """New and changed customers are written whole; unchanged ones only get `local_last_synced_at`.

    One statement for the page. `phone_override` is never written here. A customer seen in Zoho
    is never deleted: both paths clear `deleted_at`. Rows go in id order, so two writers (the
    customer sync and an invoice sync fetching customers on demand) take row locks in one order.
    """
    if not full_rows and not touch_ids:
        return UpsertCounts()
    ordered = sorted(full_rows, key=lambda r: str(r["zoho_customer_id"]))
    row = db.run(_UPSERT_PAGE, user_id=user_id, full_rows=to_json(ordered), touch_ids=to_json(sorted(touch_ids)))
    return UpsertCounts.from_row(row[0])


def mark_seen_in_zoho(db: Database, user_id: str, zoho_ids: Sequence[str], seen_at: datetime) -> int:
    """Reconcile: these customers are in Zoho's list; un-delete any that had been marked deleted."""
    if not zoho_ids:
        return 0
    rows = db.run(
        """
        UPDATE customers_cache AS c
           SET reconciled_at = :seen_at,
               deleted_at = NULL,
               updated_at = CASE WHEN c.deleted_at IS NULL THEN c.updated_at ELSE now() END
         WHERE c.user_id = :user_id AND c.zoho_customer_id = ANY(CAST(:ids AS text[]))
     RETURNING (SELECT o.deleted_at IS NOT NULL FROM customers_cache AS o WHERE o.id = c.id)
        """,
        user_id=user_id,
        ids=list(zoho_ids),
        seen_at=seen_at,
    )
    return sum(1 for row in rows if row[0])


def unseen_since(db: Database, user_id: str, started_at: datetime, limit: int) -> list[str]:
    """Reconcile: cached, not deleted, existing before the reconcile began, and not in Zoho's list."""
    rows = db.run(
        """
        SELECT zoho_customer_id FROM customers_cache
         WHERE user_id = :user_id AND deleted_at IS NULL AND created_at < :started_at
           AND (reconciled_at IS NULL OR reconciled_at < :started_at)
         ORDER BY zoho_customer_id
         LIMIT :limit
        """,
        user_id=user_id,
        started_at=started_at,
        limit=limit,
    )
    return [row[0] for row in rows]


def without_detail(db: Database, user_id: str, limit: int) -> list[str]:
    """Customers stored without their detail (a failed fetch, or migrated rows): to fetch again."""
    rows = db.run(
        """
        SELECT zoho_customer_id FROM customers_cache
         WHERE user_id = :user_id AND sync_hash IS NULL AND deleted_at IS NULL
         ORDER BY updated_at, zoho_customer_id
         LIMIT :limit
        """,
        user_id=user_id,
        limit=limit,
    )
    return [row[0] for row in rows]


def soft_delete(db: Database, user_id: str, zoho_ids: Sequence[str]) -> int:
    """Mark customers Zoho no longer has; rows and invoice links stay."""
    return db.count_rows(
        "UPDATE customers_cache SET deleted_at = now(), updated_at = now() "
        "WHERE user_id = :user_id AND zoho_customer_id = ANY(CAST(:ids AS text[])) AND deleted_at IS NULL "
        "RETURNING 1",
        user_id=user_id,
        ids=zoho_ids,
    )
