"""`zoho-sync status`: how each tenant stands, from the database alone (no Zoho call)."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from books_sync.db import Database
from books_sync.storage import breakers, step_runs, tenants
from books_sync.storage.step_runs import StepRun
from zoho_sync_cli.console import Exit, note, result_json, result_table
from zoho_sync_cli.database import open_database
from zoho_sync_cli.tenant_cmd import valid_user_id

STEPS = ("customer-sync", "invoice-sync", "reminders")

_COUNTS = """
SELECT u.id AS user_id,
       (SELECT count(*) FROM reminders r WHERE r.user_id = u.id AND r.status = 'pending') AS pending_reminders,
       (SELECT count(*) FROM due_reminders d WHERE d.user_id = u.id) AS due_reminders,
       (SELECT count(*) FROM reminder_waits w WHERE w.user_id = u.id) AS waiting_reminders,
       (SELECT w.waiting_reason FROM reminder_waits w WHERE w.user_id = u.id
         GROUP BY w.waiting_reason ORDER BY count(*) DESC, w.waiting_reason LIMIT 1) AS waiting_reason,
       (SELECT max(r.updated_at) FROM reminders r WHERE r.user_id = u.id AND r.status = 'missed') AS last_missed_at,
       (SELECT count(*) FROM reminders r WHERE r.user_id = u.id AND r.status = 'missed'
           AND r.updated_at > now() - interval '1 day') AS missed_today,
       m.confirmed_at, m.failed_runs, m.failing_since, m.retry_after, m.last_failure,
       (SELECT count(*) FROM reminders r WHERE r.user_id = u.id AND r.status = 'pending'
           AND r.scheduled_for < now() - interval '1 hour') AS overdue_reminders,
       (SELECT count(*) FROM invoice_sync_skips s WHERE s.user_id = u.id) AS held_back_invoices,
       (SELECT count(*) FROM customers_cache c WHERE c.user_id = u.id AND c.deleted_at IS NULL
           AND c.detail_hash IS DISTINCT FROM c.sync_hash) AS customers_waiting_for_detail,
       coalesce(a.calls, 0) AS zoho_calls_today, a.zoho_limit, a.zoho_remaining, a.zoho_resets_at,
       (SELECT w.last_received_at FROM webhook_secrets w WHERE w.user_id = u.id) AS last_webhook_at,
       (SELECT count(*) FROM webhook_inbox i WHERE i.user_id = u.id AND i.dead_at IS NULL
           AND (i.read_at IS NULL OR i.last_received_at > i.read_at)) AS webhook_records_waiting,
       (SELECT count(*) FROM webhook_inbox i WHERE i.user_id = u.id AND i.dead_at IS NOT NULL) AS webhook_records_dead
  FROM users AS u
  JOIN zoho_connections AS z ON z.user_id = u.id
  LEFT JOIN sync_metadata AS m ON m.user_id = u.id
  LEFT JOIN zoho_api_usage AS a ON a.organization_id = z.organization_id
                               AND a.usage_date = (now() AT TIME ZONE 'UTC')::date
 WHERE u.id = ANY(CAST(:ids AS text[]))
"""


@dataclass(frozen=True)
class TenantStatus:
    user_id: str
    connection: str
    reason: str | None
    daily_call_budget: int
    zoho_calls_today: int
    zoho_limit: int | None
    zoho_remaining: int | None
    zoho_resets_at: datetime | None  # when Zoho said its quota starts again
    pending_reminders: int
    due_reminders: int
    waiting_reminders: int  # due, but not confirmed by Zoho recently (or the tenant is not active): not handed out
    waiting_reason: str | None  # the commonest reason they wait
    last_missed_at: datetime | None
    missed_today: int  # given up in the last 24 h: waited past the grace unconfirmed
    confirmed_at: datetime | None  # Zoho's data was confirmed as of then (see migration 0015)
    failed_runs: int  # failed runs in a row (an execution's Summarize counts them)
    failing_since: datetime | None
    retry_after: datetime | None  # the next execution leaves the tenant out until then
    last_failure: str | None
    overdue_reminders: int
    held_back_invoices: int
    customers_waiting_for_detail: int
    last_webhook_at: datetime | None  # the last webhook the receiver accepted (None: no webhook set up or none yet)
    webhook_records_waiting: int  # records webhooks named, still to be read from Zoho
    webhook_records_dead: int  # given up after 8 failed reads: the hourly run brings their changes
    resumes: str | None  # when a deferred or unfinished sync goes on
    steps: dict[str, dict[str, Any]]


def _resumes(runs: dict[str, StepRun], now: datetime, zoho_reopens_at: datetime | None) -> str | None:
    """`zoho_reopens_at`: the reset Zoho gave when it is Zoho's quota (not our budget) that is spent."""
    if any(run.status == "deferred" for run in runs.values()):
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        opens = min(zoho_reopens_at, midnight) if zoho_reopens_at and zoho_reopens_at > now else midnight
        return f"after {opens:%Y-%m-%d %H:%M} UTC (the day's Zoho calls are spent)"
    if any(run.has_more for run in runs.values()):
        return "on the next run (it stopped to save its place)"
    if any((run.error or "").startswith("interrupted") for run in runs.values()):
        return "on the next run (it was interrupted; every committed page is kept)"
    return None


def _zoho_reopens_at(row: dict[str, Any], budget: int) -> datetime | None:
    zoho_spent = row["zoho_remaining"] == 0 and row["zoho_calls_today"] < budget
    return row["zoho_resets_at"] if zoho_spent else None


def _step(run: StepRun | None) -> dict[str, Any]:
    if run is None:
        return {"status": "never run"}
    return {
        "status": run.status,
        "finishedAt": run.finished_at,
        "apiCalls": run.api_calls,
        "error": run.error,
        "lastOkAt": run.last_ok_at,
    }


def statuses(db: Database, user_ids: list[str] | None) -> list[TenantStatus]:
    known = {t.user_id: t for t in tenants.list_all(db)}
    wanted = user_ids or sorted(known)
    for user_id in wanted:
        tenants.require(db, user_id)
    counts = {row.pop("user_id"): row for row in db.rows(_COUNTS, ids=wanted)}
    runs = step_runs.last_runs(db, wanted)
    now = datetime.now(UTC)
    out = []
    for user_id in wanted:
        tenant, mine = known[user_id], runs.get(user_id, {})
        row = counts[user_id]
        out.append(
            TenantStatus(
                user_id,
                tenant.status,
                tenant.status_reason,
                tenant.daily_call_budget,
                **row,
                resumes=_resumes(mine, now, _zoho_reopens_at(row, tenant.daily_call_budget)),
                steps={step: _step(mine.get(step)) for step in STEPS},
            )
        )
    return out


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if isinstance(value, datetime) else "-"


def _step_cell(step: dict[str, Any]) -> str:
    text = f"{step['status']} {_when(step.get('finishedAt'))}".strip()
    return text + (f" ({step['error'][:60]})" if step.get("error") else "")


def _calls(status: TenantStatus) -> str:
    zoho = f", Zoho says {status.zoho_remaining} left" if status.zoho_remaining is not None else ""
    return f"{status.zoho_calls_today}/{status.daily_call_budget}{zoho}"


def cmd_status(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        found = statuses(db, args.user_id)
        open_breakers = breakers.open_now(db)
    finally:
        db.close()
    if args.json:
        result_json([{**asdict(s)} for s in found])
        return Exit.OK
    if not found:
        note("no tenants; add one with `zoho-sync tenant add`")
        return Exit.OK
    result_table(
        [
            "tenant",
            "connection",
            *STEPS,
            "Zoho calls today",
            "reminders pending/due/waiting",
            "held back",
            "no detail yet",
        ],
        [
            [
                s.user_id,
                s.connection + (f": {s.reason[:40]}" if s.reason and s.connection != "active" else ""),
                *(_step_cell(s.steps[step]) for step in STEPS),
                _calls(s),
                f"{s.pending_reminders}/{s.due_reminders}/{s.waiting_reminders}",
                s.held_back_invoices,
                s.customers_waiting_for_detail,
            ]
            for s in found
        ],
    )
    for s in found:
        if s.resumes:
            note(f"{s.user_id}: resumes {s.resumes}")
        if s.failed_runs:
            again = f"next tried after {_when(s.retry_after)} UTC" if s.retry_after else "tried again by the next run"
            note(f"{s.user_id}: {s.failed_runs} failed run(s) in a row since {_when(s.failing_since)} UTC "
                 f"({s.last_failure}); {again}")  # fmt: skip
        _waiting_notes(s)
    for data_center, retry_at in open_breakers.items():
        note(f"Zoho is not answering the {data_center} data center: every tenant there waits (deferred); "
             f"the next try is after {_when(retry_at)} UTC")  # fmt: skip
    return Exit.OK


def _waiting_notes(s: TenantStatus) -> None:
    if s.waiting_reminders:
        confirmed = f"Zoho confirmed its data as of {_when(s.confirmed_at)} UTC"
        note(f"{s.user_id}: {s.waiting_reminders} due reminder(s) wait, {s.waiting_reason} ({confirmed}; "
             "`zoho-sync reminders due` lists them)")  # fmt: skip
    if s.webhook_records_dead:
        note(f"{s.user_id}: {s.webhook_records_dead} record(s) named by webhooks could not be read from Zoho after 8 "
             "tries (webhook_inbox.last_error); the hourly run brings their changes")  # fmt: skip
    if s.missed_today:
        note(f"{s.user_id}: {s.missed_today} reminder(s) given up in the last 24 h, never confirmed by Zoho within "
             "their grace (reminders.cancel_reason says why)")  # fmt: skip


def register(commands: Any) -> None:
    status = commands.add_parser(
        "status",
        help="each tenant's connection, last runs, Zoho calls today, reminders, backlog",
        description="How each tenant stands: connection, the last run of each step (when, result, error), Zoho "
        "calls today against the budget (and what Zoho reports left), pending and due reminders, held-back "
        "invoices, customers waiting for their detail, and when a deferred sync resumes.",
    )
    status.add_argument("--user-id", action="append", type=valid_user_id, help="a tenant (repeatable; default: all)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)
