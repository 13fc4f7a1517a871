"""What the database holds per tenant, for the demo's and `zoho-sync run`'s summary tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from books_sync.db import Database

_REPORT = """
SELECT u.id,
       coalesce(z.status, 'no connection'),
       (SELECT count(*) FROM customers_cache c WHERE c.user_id = u.id AND c.deleted_at IS NULL),
       (SELECT count(*) FROM customers_cache c WHERE c.user_id = u.id AND c.deleted_at IS NULL
                AND coalesce(c.phone_override, c.primary_phone) IS NOT NULL),
       (SELECT count(*) FROM invoices_cache i WHERE i.user_id = u.id AND i.deleted_at IS NULL),
       (SELECT count(*) FROM invoice_sync_skips s WHERE s.user_id = u.id),
       (SELECT count(*) FROM reminders r WHERE r.user_id = u.id AND r.status = 'pending'),
       (SELECT coalesce(sum(a.calls), 0) FROM zoho_api_usage a WHERE a.organization_id = z.organization_id)
  FROM users AS u
  LEFT JOIN zoho_connections AS z ON z.user_id = u.id
 WHERE u.id = ANY(CAST(:ids AS text[]))
 ORDER BY u.id
"""

HEADERS = ["tenant", "connection", "customers", "with phone", "invoices", "held back", "reminders", "Zoho calls"]


@dataclass(frozen=True)
class TenantReport:
    user_id: str
    connection: str
    customers: int
    with_phone: int
    invoices: int
    held_back: int
    pending_reminders: int
    zoho_calls: int  # all calls counted for the organization (today and before)

    def row(self, zoho_calls: int | None = None) -> list[object]:
        calls = self.zoho_calls if zoho_calls is None else zoho_calls
        return [
            self.user_id,
            self.connection,
            self.customers,
            self.with_phone,
            self.invoices,
            self.held_back,
            self.pending_reminders,
            calls,
        ]


def tenant_reports(db: Database, user_ids: Sequence[str]) -> dict[str, TenantReport]:
    rows = db.run(_REPORT, ids=list(user_ids))
    return {row[0]: TenantReport(row[0], row[1], *(int(value) for value in row[2:])) for row in rows}
