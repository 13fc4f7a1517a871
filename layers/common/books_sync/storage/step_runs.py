"""SQL for `step_runs`: each tenant's last run of each step, for `zoho-sync status` and the summaries.

Written by every step wherever it runs (Lambda or the CLI): when it starts, then how it ended.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from books_sync.db import Database


@dataclass(frozen=True)
class StepRun:
    user_id: str
    step: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    has_more: bool
    api_calls: int
    error: str | None
    last_ok_at: datetime | None


def started(db: Database, user_id: str, step: str, execution_id: str | None) -> None:
    db.run(
        """
        INSERT INTO step_runs AS s (user_id, step, started_at, status, execution_id)
        VALUES (:user_id, :step, now(), 'running', :execution_id)
        ON CONFLICT (user_id, step) DO UPDATE SET
            started_at = now(), finished_at = NULL, status = 'running', error = NULL,
            execution_id = EXCLUDED.execution_id
        """,
        user_id=user_id,
        step=step,
        execution_id=execution_id,
    )


def finished(
    db: Database, user_id: str, step: str, summary: dict[str, Any] | None, error: str | None, *, calls: int = 0
) -> None:
    """The run's end: its summary's status (or `failed` with the error and the calls it made), calls and
    whether more follows."""
    status = "failed" if error else str((summary or {}).get("status", "ok"))
    db.run(
        """
        UPDATE step_runs
           SET finished_at = now(), status = :status, summary = CAST(:summary AS jsonb), error = :error,
               has_more = :has_more, api_calls = :api_calls,
               last_ok_at = CASE WHEN :status IN ('ok', 'skipped') THEN now() ELSE last_ok_at END
         WHERE user_id = :user_id AND step = :step
        """,
        user_id=user_id,
        step=step,
        status=status,
        summary=json.dumps(summary, default=str) if summary is not None else None,
        error=error[:1000] if error else None,
        has_more=bool((summary or {}).get("hasMore")),
        api_calls=int((summary or {}).get("apiCalls") or calls),
    )


def last_runs(db: Database, user_ids: list[str]) -> dict[str, dict[str, StepRun]]:
    rows = db.rows(
        "SELECT user_id, step, started_at, finished_at, status, has_more, api_calls, error, last_ok_at "
        "FROM step_runs WHERE user_id = ANY(CAST(:ids AS text[])) ORDER BY user_id, step",
        ids=user_ids,
    )
    out: dict[str, dict[str, StepRun]] = {}
    for row in rows:
        out.setdefault(row["user_id"], {})[row["step"]] = StepRun(**row)
    return out


@dataclass(frozen=True)
class ExecutionStep:
    """One step of one tenant as an execution left it (`running` = started and never finished)."""

    user_id: str
    step: str
    status: str
    error: str | None
    api_calls: int
    has_more: bool


def of_execution(db: Database, execution_id: str) -> list[ExecutionStep]:
    """Every step run this execution still owns (a later run of the same step replaces its row)."""
    rows = db.rows(
        "SELECT user_id, step, status, error, api_calls, has_more FROM step_runs WHERE execution_id = :execution_id "
        "ORDER BY user_id, step",
        execution_id=execution_id,
    )
    return [ExecutionStep(**row) for row in rows]
