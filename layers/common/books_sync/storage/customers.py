"""SQL for `customers_cache`. Writes are set-based: one statement per page, never one per row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from books_sync.db import Database, to_json
from books_sync.records.contacts import CustomerRecord
from books_sync.storage.lookups import STILL_LIVE, TENANT, cached_ids, each_cached, one_cached
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
        "SELECT c.zoho_customer_id, c.sync_hash, c.deleted_at IS NOT NULL "  # noqa: S608 - constants
        f"FROM {each_cached('customers_cache', 'zoho_customer_id, sync_hash, deleted_at')}",  # nosec B608 - constants
        user_id=user_id,
        ids=list(zoho_ids),
    )
    return {row[0]: Cached(row[1], bool(row[2])) for row in rows}


def ids_by_zoho_id(db: Database, user_id: str, zoho_ids: Sequence[str]) -> dict[str, str]:
    """Our customer id (uuid, as text) per Zoho customer id, deleted customers included."""
    if not zoho_ids:
        return {}
    rows = db.run(
        f"SELECT c.zoho_customer_id, c.id::text FROM {each_cached('customers_cache', 'zoho_customer_id, id')}",  # nosec B608 - constants  # noqa: S608 - constants
        user_id=user_id,
        ids=list(zoho_ids),
    )
    return {row[0]: row[1] for row in rows}


_UPSERT_PAGE = (
    "WITH page AS ("  # noqa: S608  # nosec B608 - constants
    """
    SELECT *
      FROM jsonb_to_recordset(CAST(:full_rows AS jsonb)) AS r(
           zoho_customer_id text, customer_name text, primary_phone text, primary_email text,
           contact_persons jsonb, country_code text, timezone text, zoho_last_modified_at timestamptz,
           sync_hash text, detail_hash text, payment_reminder_enabled boolean, phone_sms_enabled boolean,
           phone_whatsapp_enabled boolean, billing_region text)
), touched AS (
    UPDATE customers_cache AS t
       SET local_last_synced_at = now(),
           deleted_at = NULL,
           updated_at = CASE WHEN t.deleted_at IS NULL THEN t.updated_at ELSE now() END
     WHERE """
    + cached_ids("customers_cache", "t", "CAST(:touch_ids AS text[])")
    + """
 RETURNING 1
), upserted AS (
    INSERT INTO customers_cache AS c (
           user_id, zoho_customer_id, customer_name, primary_phone, primary_email, contact_persons,
           country_code, timezone, zoho_last_modified_at, local_last_synced_at, sync_hash, detail_hash,
           detail_fetched_at, payment_reminder_enabled, phone_sms_enabled, phone_whatsapp_enabled, billing_region)
    SELECT :user_id, p.zoho_customer_id, p.customer_name, p.primary_phone, p.primary_email,
           coalesce(p.contact_persons, """
    + one_cached("customers_cache", "contact_persons", "p.zoho_customer_id")
    + """, '[]'::jsonb),
           p.country_code, p.timezone, p.zoho_last_modified_at, now(), p.sync_hash, p.detail_hash,
           CASE WHEN p.detail_hash IS NOT NULL THEN now() END, p.payment_reminder_enabled, p.phone_sms_enabled,
           p.phone_whatsapp_enabled, p.billing_region
      FROM page AS p
    ON CONFLICT (user_id, zoho_customer_id) DO UPDATE SET
           customer_name = EXCLUDED.customer_name,
           -- once a detail chose the phone (among every person) and its country, a list row (which
           -- shows the primary person only) does not undo it: the refreshed detail will
           primary_phone = CASE WHEN EXCLUDED.detail_hash IS NULL AND c.detail_hash IS NOT NULL
                                THEN c.primary_phone ELSE EXCLUDED.primary_phone END,
           primary_email = CASE WHEN EXCLUDED.detail_hash IS NULL AND c.detail_hash IS NOT NULL
                                THEN c.primary_email ELSE EXCLUDED.primary_email END,
           contact_persons = EXCLUDED.contact_persons,
           country_code = CASE WHEN EXCLUDED.detail_hash IS NULL AND c.detail_hash IS NOT NULL
                               THEN c.country_code ELSE EXCLUDED.country_code END,
           timezone = CASE WHEN EXCLUDED.detail_hash IS NULL AND c.detail_hash IS NOT NULL
                           THEN c.timezone ELSE EXCLUDED.timezone END,
           billing_region = CASE WHEN EXCLUDED.detail_hash IS NULL THEN c.billing_region
                                 ELSE EXCLUDED.billing_region END,
           zoho_last_modified_at = EXCLUDED.zoho_last_modified_at,
           local_last_synced_at = now(),
           sync_hash = EXCLUDED.sync_hash,
           -- a list row leaves what only the detail knows; a detail replaces it and is current
           detail_hash = coalesce(EXCLUDED.detail_hash, c.detail_hash),
           detail_fetched_at = coalesce(EXCLUDED.detail_fetched_at, c.detail_fetched_at),
           detail_attempts = CASE WHEN EXCLUDED.detail_hash IS NULL THEN c.detail_attempts ELSE 0 END,
           detail_retry_at = CASE WHEN EXCLUDED.detail_hash IS NULL THEN c.detail_retry_at END,
           payment_reminder_enabled = CASE WHEN EXCLUDED.detail_hash IS NULL THEN c.payment_reminder_enabled
                                           ELSE EXCLUDED.payment_reminder_enabled END,
           phone_sms_enabled = CASE WHEN EXCLUDED.detail_hash IS NULL THEN c.phone_sms_enabled
                                    ELSE EXCLUDED.phone_sms_enabled END,
           phone_whatsapp_enabled = CASE WHEN EXCLUDED.detail_hash IS NULL THEN c.phone_whatsapp_enabled
                                         ELSE EXCLUDED.phone_whatsapp_enabled END,
           deleted_at = NULL,
           updated_at = now()
     -- an older copy (a detail fetched before the list showed a newer edit) never overwrites a newer one
     WHERE c.zoho_last_modified_at IS NULL OR EXCLUDED.zoho_last_modified_at IS NULL
        OR EXCLUDED.zoho_last_modified_at >= c.zoho_last_modified_at
 RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM upserted WHERE inserted),
       (SELECT count(*) FROM upserted WHERE NOT inserted),
       (SELECT count(*) FROM touched)
"""  # nosec B608 - constants
)


def upsert_page(
    db: Database, user_id: str, records: Sequence[CustomerRecord], touch_ids: Sequence[str]
) -> UpsertCounts:
    """New and changed customers are written; unchanged ones only get `local_last_synced_at`.

    One statement for the page. A record from a list row updates what the list tells and leaves
    the detail as it was (now stale, so it is queued), the phone it chose included; a record from
    a detail makes it current.
    `phone_override` is never written here. A customer seen in Zoho is never deleted: both paths
    clear `deleted_at`. Rows go in id order, so two writers (the customer sync and an invoice sync
    fetching customers on demand) take row locks in one order.
    """
    if not records and not touch_ids:
        return UpsertCounts()
    rows = [
        {**record.as_row(), "detail_hash": record.sync_hash if record.detailed else None}
        for record in sorted(records, key=lambda record: record.zoho_customer_id)
    ]
    row = db.run(_UPSERT_PAGE, user_id=user_id, full_rows=to_json(rows), touch_ids=sorted(touch_ids))
    return UpsertCounts.from_row(row[0])


_BEHIND = f"""
SELECT l.id
  FROM jsonb_to_recordset(CAST(:listed AS jsonb)) AS l(id text, modified timestamptz)
  LEFT JOIN LATERAL {one_cached("customers_cache", "id, zoho_last_modified_at", "l.id")} AS c ON true
 WHERE (c.id IS NULL AND l.modified >= :window_start)  -- the sync window's rule, as for a pass
    OR (c.id IS NOT NULL AND l.modified IS NOT NULL
        AND (c.zoho_last_modified_at IS NULL OR c.zoho_last_modified_at < l.modified))
"""  # noqa: S608  # nosec B608 - constants


def behind(
    db: Database, user_id: str, listed: Sequence[tuple[str, datetime | None]], window_start: datetime
) -> set[str]:
    """Of the customers a Zoho list shows (id, modification time), those the cache lacks (modified within
    the sync window) or holds older."""
    if not listed:
        return set()
    pairs = to_json([{"id": i, "modified": m} for i, m in listed])
    rows = db.run(_BEHIND, user_id=user_id, listed=pairs, window_start=window_start)
    return {row[0] for row in rows}


def mark_seen_in_zoho(db: Database, user_id: str, zoho_ids: Sequence[str], seen_at: datetime) -> int:
    """Reconcile: these customers are in Zoho's list; un-delete any that had been marked deleted."""
    if not zoho_ids:
        return 0
    rows = db.run(
        "UPDATE customers_cache AS c"  # noqa: S608  # nosec B608 - constants
        """
           SET reconciled_at = :seen_at,
               deleted_at = NULL,
               updated_at = CASE WHEN c.deleted_at IS NULL THEN c.updated_at ELSE now() END
         WHERE """
        + cached_ids("customers_cache", "c")
        + """
     RETURNING (SELECT o.deleted_at IS NOT NULL FROM customers_cache AS o WHERE o.id = c.id)
        """,  # nosec B608 - constants
        user_id=user_id,
        ids=list(zoho_ids),
        seen_at=seen_at,
    )
    return sum(1 for row in rows if row[0])


def unseen_since(db: Database, user_id: str, started_at: datetime, limit: int, after: str | None = None) -> list[str]:
    """Reconcile: cached, not deleted, existing before the reconcile began, and not in Zoho's list; by Zoho
    id after `after`, so that a walk through them reads each cached row once."""
    rows = db.run(
        f"""
        SELECT zoho_customer_id FROM customers_cache
         WHERE user_id = {TENANT} AND zoho_customer_id > :after
           AND deleted_at IS NULL AND created_at < :started_at
           AND (reconciled_at IS NULL OR reconciled_at < :started_at)
         ORDER BY zoho_customer_id
         LIMIT :limit
        """,  # noqa: S608  # nosec B608 - constants
        user_id=user_id,
        started_at=started_at,
        limit=limit,
        after=after or "",
    )
    return [row[0] for row in rows]


# Per customer, with index lookups only (`invoices_cache.customer_id`, `reminders.invoice_id`): the
# plan stays linear when statistics are stale, as they are right after a new tenant's first sync
# (a set-wide aggregate joined to the customers became a nested loop over both: 12 s a query).
_DETAIL_QUEUE = """
SELECT c.zoho_customer_id, c.sync_hash
  FROM customers_cache AS c
 CROSS JOIN LATERAL (
       -- the customer's open invoices, and the first reminder day they unlock from yesterday on
       SELECT count(i.id) > 0 AS has_open,
              min(b.day + o.days) FILTER (WHERE b.day + o.days >= current_date - 1) AS first_day
         FROM open_invoices AS i
        CROSS JOIN LATERAL (
              SELECT coalesce(CASE WHEN :basis = 'expected_payment_date' THEN i.payment_expected_date END,
                              i.due_date) AS day) AS b
         LEFT JOIN unnest(CAST(:offsets AS integer[])) AS o(days) ON true
        WHERE i.customer_id = c.id
       ) AS u
 WHERE c.user_id = :user_id AND c.deleted_at IS NULL
   AND (c.detail_retry_at IS NULL OR c.detail_retry_at <= now())
   AND c.zoho_customer_id <> ALL(CAST(:tried AS text[]))
   AND (c.detail_hash IS DISTINCT FROM c.sync_hash
        OR (c.detail_fetched_at < now() - interval '7 days'
            AND EXISTS (SELECT 1
                          FROM invoices_cache AS i
                          JOIN reminders AS r ON r.invoice_id = i.id
                         WHERE i.customer_id = c.id AND r.status = 'pending'
                           AND r.scheduled_for < now() + interval '24 hours')))
 ORDER BY CASE WHEN c.detail_hash = c.sync_hash THEN 0                -- current, but a week old and a reminder is near
               WHEN c.detail_hash IS NOT NULL AND u.first_day IS NOT NULL THEN 1  -- changed since, reminders ahead
               WHEN u.first_day IS NOT NULL THEN 2                                -- never read, reminders ahead
               WHEN u.has_open THEN 3                                             -- open invoices, none ahead
               ELSE 4 END,
          u.first_day NULLS LAST, c.zoho_last_modified_at DESC NULLS LAST, c.zoho_customer_id
 LIMIT :limit
"""


def detail_queue(
    db: Database, user_id: str, *, offsets: Sequence[int], basis: str, limit: int, tried: Sequence[str] = ()
) -> list[tuple[str, str | None]]:
    """Customers whose detail to fetch next, most urgent first.

    First those with a reminder within a day whose detail is a week old (Zoho may not mark a
    changed reminder setting as a modification); then changed customers with reminders ahead; then
    never-read customers by the earliest reminder their open invoices unlock; then other customers
    with open invoices; then the rest, newest change first. Failed ones wait their retry time; ones
    `tried` are left out. Returns (Zoho id, the list hash the detail is for).
    """
    rows = db.run(_DETAIL_QUEUE, user_id=user_id, offsets=list(offsets), basis=basis, limit=limit, tried=list(tried))
    return [(row[0], row[1]) for row in rows]


def waiting_for_detail(db: Database, user_id: str) -> int:
    """Customers whose detail is not known, or older than their list row."""
    return int(
        db.scalar(
            "SELECT count(*) FROM customers_cache WHERE user_id = :user_id AND deleted_at IS NULL "
            "AND detail_hash IS DISTINCT FROM sync_hash",
            user_id=user_id,
        )
    )


def detail_failed(db: Database, user_id: str, zoho_ids: Sequence[str]) -> int:
    """The detail could not be had: asked again after a growing wait (50 minutes, doubling, at most a day)."""
    return db.count_rows(
        "UPDATE customers_cache AS u SET detail_attempts = u.detail_attempts + 1, "  # noqa: S608 - constants
        "detail_retry_at = now() + least(interval '50 minutes' * power(2, u.detail_attempts), interval '1 day') "
        f"WHERE {cached_ids('customers_cache', 'u')} RETURNING 1",  # nosec B608 - constants
        user_id=user_id,
        ids=zoho_ids,
    )


def soft_delete(db: Database, user_id: str, zoho_ids: Sequence[str]) -> int:
    """Mark customers Zoho no longer has; rows and invoice links stay."""
    return db.count_rows(
        "UPDATE customers_cache AS u SET deleted_at = now(), updated_at = now() "  # noqa: S608 - constants
        f"WHERE {cached_ids('customers_cache', 'u', live=True)} AND {STILL_LIVE} RETURNING 1",  # nosec B608
        user_id=user_id,
        ids=zoho_ids,
    )
