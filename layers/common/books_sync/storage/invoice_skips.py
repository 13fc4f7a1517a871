"""SQL for `invoice_sync_skips`: invoices held back because their customer could not be found.

An invoice lands here instead of being lost, with the row Zoho sent, and leaves as soon as it links.
It is retried with a growing wait (50 minutes, doubling, at most a day): asking Zoho every hourly
run for customers it does not have would spend a free plan's daily quota on nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from books_sync.db import Database, to_json
from books_sync.storage.lookups import TENANT, one_cached


@dataclass(frozen=True)
class HeldBack:
    """An invoice to keep until its customer can be found, with why, and the row as Zoho sent it."""

    zoho_invoice_id: str
    zoho_customer_id: str
    reason: str
    invoice: dict[str, Any]


@dataclass(frozen=True)
class Skip:
    zoho_invoice_id: str
    zoho_customer_id: str | None
    invoice: dict[str, Any]


def pending(db: Database, user_id: str, limit: int) -> list[Skip]:
    """The skips due for a retry, least recently tried first."""
    rows = db.run(
        """
        SELECT zoho_invoice_id, zoho_customer_id, invoice FROM invoice_sync_skips
         WHERE user_id = :user_id AND next_retry_at <= now()
         ORDER BY last_seen_at, zoho_invoice_id
         LIMIT :limit
        """,
        user_id=user_id,
        limit=limit,
    )
    return [Skip(row[0], row[1], row[2] if isinstance(row[2], dict) else json.loads(row[2])) for row in rows]


def arrived(db: Database, user_id: str, limit: int) -> list[Skip]:
    """Held-back invoices whose customer is cached now (the customer step, a fetch or a detail brought it):
    they link at no Zoho call, so their wait does not apply."""
    rows = db.run(
        f"""
        SELECT s.zoho_invoice_id, s.zoho_customer_id, s.invoice FROM invoice_sync_skips AS s
         WHERE s.user_id = {TENANT} AND EXISTS {one_cached("customers_cache", "1", "s.zoho_customer_id")}
         ORDER BY s.zoho_invoice_id
         LIMIT :limit
        """,  # noqa: S608  # nosec B608 - constants
        user_id=user_id,
        limit=limit,
    )
    return [Skip(row[0], row[1], row[2] if isinstance(row[2], dict) else json.loads(row[2])) for row in rows]


def record(db: Database, user_id: str, skips: Sequence[HeldBack], run_started_at: datetime) -> None:
    """Add or refresh held-back invoices: one statement.

    `attempts` counts runs, not sightings: a skip seen twice in one run counts once.
    """
    if not skips:
        return
    db.run(
        """
        INSERT INTO invoice_sync_skips AS s (user_id, zoho_invoice_id, zoho_customer_id, reason, invoice,
                                             next_retry_at)
        SELECT :user_id, r.zoho_invoice_id, r.zoho_customer_id, r.reason, r.invoice, now() + interval '50 minutes'
          FROM jsonb_to_recordset(CAST(:rows AS jsonb))
               AS r(zoho_invoice_id text, zoho_customer_id text, reason text, invoice jsonb)
        ON CONFLICT (user_id, zoho_invoice_id) DO UPDATE SET
               zoho_customer_id = EXCLUDED.zoho_customer_id,
               reason = EXCLUDED.reason,
               invoice = EXCLUDED.invoice,
               attempts = s.attempts + CASE WHEN s.last_seen_at < :run_started_at THEN 1 ELSE 0 END,
               next_retry_at = CASE WHEN s.last_seen_at < :run_started_at
                                    THEN now() + least(interval '50 minutes' * power(2, s.attempts), interval '1 day')
                                    ELSE s.next_retry_at END,
               last_seen_at = now()
        """,
        user_id=user_id,
        rows=to_json([asdict(skip) for skip in skips]),
        run_started_at=run_started_at,
    )


def waiting_customers(db: Database, user_id: str, zoho_customer_ids: Sequence[str]) -> dict[str, str]:
    """Customers of held-back invoices whose retry is not due yet, with why: not asked for again."""
    if not zoho_customer_ids:
        return {}
    rows = db.run(  # per customer, the last one held back (0023's index): a page reads in proportion to it
        f"""
        SELECT listed.zoho_id, s.reason
          FROM unnest(CAST(:ids AS text[])) AS listed(zoho_id)
         CROSS JOIN LATERAL (SELECT reason FROM invoice_sync_skips
                              WHERE user_id = {TENANT} AND zoho_customer_id = listed.zoho_id
                                AND next_retry_at > now()
                              ORDER BY last_seen_at DESC LIMIT 1) AS s
        """,  # noqa: S608  # nosec B608 - constants
        user_id=user_id,
        ids=sorted(set(zoho_customer_ids)),
    )
    return {row[0]: row[1] for row in rows}


def clear(db: Database, user_id: str, zoho_invoice_ids: Sequence[str]) -> int:
    """Invoices that linked: they are no longer held back."""
    return db.count_rows(
        "DELETE FROM invoice_sync_skips WHERE user_id = :user_id AND zoho_invoice_id = ANY(CAST(:ids AS text[])) "
        "RETURNING 1",
        user_id=user_id,
        ids=zoho_invoice_ids,
    )
