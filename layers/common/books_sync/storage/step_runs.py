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


def of_execution(db: Database, execution_id: str, user_id: str | None = None) -> list[ExecutionStep]:
    """Every step run this execution still owns (a later run of the same step replaces its row), or
    one tenant's."""
    rows = db.rows(
        "SELECT user_id, step, status, error, api_calls, has_more FROM step_runs WHERE execution_id = :execution_id "
        "AND (CAST(:user_id AS text) IS NULL OR user_id = :user_id) ORDER BY user_id, step",
        execution_id=execution_id,
        user_id=user_id,
    )
    return [ExecutionStep(**row) for row in rows]


def record_caught(db: Database, user_id: str, execution_id: str, steps: tuple[str, ...], error: str) -> str | None:
    """An error the state machine caught for a tenant, recorded where its step could not record it.

    A step that recorded its failure keeps it. A step left `running` (a Lambda timeout, a crash) gets
    the caught error. Otherwise the error came before the step recorded its start (the database out,
    the schema behind, an earlier invocation still running): the first of `steps` this execution has
    not run is recorded as failed, so the tenant is reported failed, not skipped. Returns that step.
    """
    mine = {run.step: run for run in of_execution(db, execution_id, user_id)}
    if any(run.status == "failed" for run in mine.values()):
        return None
    step = next((run.step for run in mine.values() if run.status == "running"), None)
    step = step or next((name for name in steps if name not in mine), None)
    if step is None:
        return None
    if step not in mine:
        started(db, user_id, step, execution_id)
    finished(db, user_id, step, None, f"{error[:300]} (caught by the state machine)")
    return step
