"""SQL for a tenant's run of failures (`sync_metadata.failed_runs`, migration 0017): a failing tenant is
retried on a growing interval and reported, never fails the execution on its own.

The next run after a first failure tries it again; after that it waits 2 hours, 4, 8, 16, at most a day,
until a run succeeds. ListTenants leaves it out meanwhile (and says so); `zoho-sync run --user-id` and an
execution that names it still run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from books_sync.db import Database, to_json

_FAILED = """
UPDATE sync_metadata AS m
   SET failed_runs = m.failed_runs + 1,
       failing_since = coalesce(m.failing_since, now()),
       last_failure = f.why,
       retry_after = CASE WHEN m.failed_runs = 0 THEN NULL  -- the first failure: the next run tries again
                          ELSE now() + least(interval '1 hour' * power(2, m.failed_runs), interval '1 day') END,
       updated_at = now()
  FROM jsonb_to_recordset(CAST(:failed AS jsonb)) AS f(user_id text, why text)
 WHERE m.user_id = f.user_id
RETURNING m.user_id, m.failed_runs, m.failing_since, m.retry_after
"""


@dataclass(frozen=True)
class Failing:
    user_id: str
    failed_runs: int  # in a row, this one included
    failing_since: datetime
    retry_after: datetime | None  # None: the next run tries again


def record_failed(db: Database, failed: Sequence[tuple[str, str]]) -> list[Failing]:
    """These tenants' runs failed (user id, why): one more in their row, and their next try."""
    if not failed:
        return []
    rows = db.run(_FAILED, failed=to_json([{"user_id": user_id, "why": why} for user_id, why in failed]))
    return [Failing(*row) for row in rows]


def record_succeeded(db: Database, user_ids: Sequence[str]) -> int:
    """These tenants' runs went through: their row of failures ends. Returns how many had one."""
    return db.count_rows(
        "UPDATE sync_metadata SET failed_runs = 0, failing_since = NULL, retry_after = NULL, last_failure = NULL, "
        "updated_at = now() WHERE user_id = ANY(CAST(:ids AS text[])) AND failed_runs > 0 RETURNING 1",
        ids=list(user_ids),
    )


def waiting(db: Database, user_ids: Sequence[str]) -> dict[str, Failing]:
    """Those of these tenants waiting for their next try (failed, and their retry time not come)."""
    rows = db.run(
        "SELECT user_id, failed_runs, failing_since, retry_after FROM sync_metadata "
        "WHERE user_id = ANY(CAST(:ids AS text[])) AND retry_after > now()",
        ids=list(user_ids),
    )
    return {row[0]: Failing(*row) for row in rows}


def fleet_counts(db: Database) -> tuple[int, int]:
    """(tenants failing for more than a day, tenants waiting for re-authorization), whole fleet."""
    row = db.run(
        "SELECT (SELECT count(*) FROM sync_metadata WHERE failing_since < now() - interval '1 day'), "
        "(SELECT count(*) FROM zoho_connections WHERE status = 'needs_reauth')"
    )[0]
    return int(row[0]), int(row[1])
