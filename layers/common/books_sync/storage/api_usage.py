"""SQL for `zoho_api_usage` and `zoho_pace`: Zoho calls per organization per UTC day, and whose turn
it is to call, shared by every Lambda and every process."""

from __future__ import annotations

from dataclasses import dataclass

from books_sync.db import Database
from books_sync.errors import DailyBudgetReached
from books_sync.zoho.responses import Quota


@dataclass(frozen=True)
class Today:
    """The organization's calls today: its allowance (our budget, or Zoho's quota when smaller) and what is left."""

    allowed: int
    left: int


def today(db: Database, organization_id: str, budget: int) -> Today:
    """Zoho's reported remainder counts unless its quota has started again since (the reset it gave passed)."""
    row = db.one(
        "SELECT calls, zoho_limit, CASE WHEN zoho_resets_at <= now() THEN NULL ELSE zoho_remaining END "
        "AS zoho_remaining FROM zoho_api_usage "
        "WHERE organization_id = :organization_id AND usage_date = (now() AT TIME ZONE 'UTC')::date",
        organization_id=organization_id,
    )
    if row is None:
        return Today(budget, budget)
    allowed = budget if row["zoho_limit"] is None else min(budget, int(row["zoho_limit"]))
    left = budget - int(row["calls"])
    if row["zoho_remaining"] is not None:
        left = min(left, int(row["zoho_remaining"]))
    return Today(allowed, left)


def calls_today(db: Database, organization_id: str) -> int:
    value = db.scalar(
        "SELECT calls FROM zoho_api_usage WHERE organization_id = :organization_id "
        "AND usage_date = (now() AT TIME ZONE 'UTC')::date",
        organization_id=organization_id,
    )
    return int(value or 0)


def mark_spent(db: Database, organization_id: str) -> None:
    """Zoho said the daily limit is reached: record none left, so other steps stop too, until the reset it
    reported (if any) or the next UTC day."""
    db.run(
        """
        INSERT INTO zoho_api_usage AS u (organization_id, usage_date, calls, zoho_remaining)
        VALUES (:organization_id, (now() AT TIME ZONE 'UTC')::date, 0, 0)
        ON CONFLICT (organization_id, usage_date) DO UPDATE SET zoho_remaining = 0
        """,
        organization_id=organization_id,
    )


_RESERVE = """
WITH usage AS (
    INSERT INTO zoho_api_usage AS u (organization_id, usage_date, calls)
    SELECT :organization_id, (now() AT TIME ZONE 'UTC')::date, 1
     WHERE :budget > 0
    ON CONFLICT (organization_id, usage_date) DO UPDATE
           SET calls = u.calls + 1,
               zoho_remaining = CASE WHEN u.zoho_resets_at <= now() THEN NULL ELSE u.zoho_remaining - 1 END,
               zoho_resets_at = CASE WHEN u.zoho_resets_at <= now() THEN NULL ELSE u.zoho_resets_at END
         WHERE u.calls < :budget AND (coalesce(u.zoho_remaining, 1) > 0 OR u.zoho_resets_at <= now())
    RETURNING calls
), turn AS (
    INSERT INTO zoho_pace AS p (organization_id, next_slot_at)
    SELECT :organization_id, clock_timestamp() + make_interval(secs => :spacing) FROM usage
    ON CONFLICT (organization_id) DO UPDATE
           SET next_slot_at = greatest(p.next_slot_at, clock_timestamp()) + make_interval(secs => :spacing)
    RETURNING next_slot_at
)
SELECT (SELECT calls FROM usage),
       extract(epoch FROM (SELECT next_slot_at FROM turn) - clock_timestamp()) - :spacing
"""


class PostgresCallBudget:
    """`zoho.client.CallBudget` over `zoho_api_usage` and `zoho_pace`, one statement a call.

    Today's count, Zoho's reported remainder and the organization's next free turn move together,
    so concurrent Lambdas can never together exceed the budget nor the pace. Calls are spaced
    evenly (2% under the limit, for network jitter). Each reservation commits on its own, so a
    counted call is never rolled back with a page that failed; hence no Zoho call may run inside a
    transaction.
    """

    def __init__(self, db: Database, organization_id: str, budget: int, calls: int, window_seconds: float) -> None:
        self._db = db
        self._organization_id = organization_id
        self._budget = budget
        self._spacing = window_seconds / calls * 1.02

    def reserve(self, endpoint: str) -> float:
        if self._db.in_transaction:
            raise RuntimeError("Zoho calls must not run inside a database transaction")
        row = self._db.run(_RESERVE, organization_id=self._organization_id, budget=self._budget, spacing=self._spacing)[
            0
        ]
        if row[0] is None:
            raise DailyBudgetReached(endpoint, self._spent_reason())
        return max(0.0, float(row[1]))

    def _spent_reason(self) -> str:
        row = self._db.one(
            "SELECT zoho_remaining, zoho_resets_at FROM zoho_api_usage WHERE organization_id = :o "
            "AND usage_date = (now() AT TIME ZONE 'UTC')::date",
            o=self._organization_id,
        )
        if row is not None and row["zoho_remaining"] is not None and row["zoho_remaining"] <= 0:
            until = f"until {row['zoho_resets_at']:%Y-%m-%d %H:%M} UTC" if row["zoho_resets_at"] else "today"
            return f"Zoho reports no calls left {until} for the organization (other apps share its quota)"
        return f"today's budget of {self._budget} Zoho calls for the organization is spent"

    def observe(self, quota: Quota) -> None:
        self._db.run(
            "UPDATE zoho_api_usage SET zoho_limit = :limit, zoho_remaining = :remaining, zoho_reported_at = now(), "
            "zoho_resets_at = now() + make_interval(secs => CAST(:resets_in AS double precision)) "
            "WHERE organization_id = :o AND usage_date = (now() AT TIME ZONE 'UTC')::date",
            limit=quota.limit,
            remaining=quota.remaining,
            resets_in=quota.resets_in,
            o=self._organization_id,
        )

    def mark_spent(self) -> None:
        mark_spent(self._db, self._organization_id)
