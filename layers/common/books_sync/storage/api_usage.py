"""SQL for `zoho_api_usage`: Zoho calls per organization per UTC day, shared by every Lambda."""

from __future__ import annotations

from books_sync.db import Database


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
