"""SQL for `zoho_api_usage`: Zoho calls per organization per UTC day, shared by every Lambda."""

from __future__ import annotations

from books_sync.db import Database
from books_sync.errors import DailyBudgetReached


def reserve_call(db: Database, organization_id: str, budget: int) -> int | None:
    """Count one more call today if the budget allows; the new count, or None when spent.

    One statement, so concurrent Lambdas can never together exceed the budget.
    """
    value = db.scalar(
        """
        INSERT INTO zoho_api_usage AS u (organization_id, usage_date, calls)
        SELECT :organization_id, (now() AT TIME ZONE 'UTC')::date, 1
         WHERE :budget > 0
        ON CONFLICT (organization_id, usage_date)
        DO UPDATE SET calls = u.calls + 1 WHERE u.calls < :budget
        RETURNING calls
        """,
        organization_id=organization_id,
        budget=budget,
    )
    return int(value) if value is not None else None


def calls_today(db: Database, organization_id: str) -> int:
    value = db.scalar(
        "SELECT calls FROM zoho_api_usage WHERE organization_id = :organization_id "
        "AND usage_date = (now() AT TIME ZONE 'UTC')::date",
        organization_id=organization_id,
    )
    return int(value or 0)


def mark_spent(db: Database, organization_id: str, budget: int) -> None:
    """Zoho said the daily limit is reached: make our counter agree so other steps stop too."""
    db.run(
        """
        INSERT INTO zoho_api_usage AS u (organization_id, usage_date, calls)
        VALUES (:organization_id, (now() AT TIME ZONE 'UTC')::date, :budget)
        ON CONFLICT (organization_id, usage_date) DO UPDATE SET calls = greatest(u.calls, :budget)
        """,
        organization_id=organization_id,
        budget=budget,
    )


class PostgresCallBudget:
    """`zoho.client.CallBudget` over `zoho_api_usage`: one counter per organization per UTC day.

    Each reservation commits on its own (autocommit), so a call counted is never rolled back with
    a page that failed; that is also why no Zoho call may run inside a transaction.
    """

    def __init__(self, db: Database, organization_id: str, budget: int) -> None:
        self._db = db
        self._organization_id = organization_id
        self._budget = budget

    def reserve(self, endpoint: str) -> None:
        if self._db.in_transaction:
            raise RuntimeError("Zoho calls must not run inside a database transaction")
        if reserve_call(self._db, self._organization_id, self._budget) is None:
            raise DailyBudgetReached(
                endpoint, f"today's budget of {self._budget} Zoho calls for the organization is spent"
            )

    def mark_spent(self) -> None:
        mark_spent(self._db, self._organization_id, self._budget)
