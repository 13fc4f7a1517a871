"""`zoho-sync run`: the three steps in process for the chosen tenants, with progress and a summary.

Exit codes follow the state machine's rule: a tenant that failed fails the run (1); tenants that
only need re-authorization are reported, and the run ends 3 when that is all that went wrong.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

from books_sync.errors import SettingsError
from books_sync.migrator import migrate
from books_sync.settings import get_settings
from books_sync.storage import tenants
from books_sync.storage.tenants import Tenant
from books_sync.zoho.auth import oauth_client_from_settings
from zoho_sync_cli.console import CliError, Exit, note, result_json, result_table
from zoho_sync_cli.database import open_database
from zoho_sync_cli.pipeline import TenantRun, run_tenant
from zoho_sync_cli.progress import StepProgress
from zoho_sync_cli.report import HEADERS, tenant_reports
from zoho_sync_cli.tenant_cmd import valid_user_id

_REAUTH = "ZohoAuthError"


@dataclass
class Plan:
    run: list[str] = field(default_factory=list)
    skipped: dict[str, Tenant] = field(default_factory=dict)  # not active: named, with what to do


def plan(wanted: list[str] | None, known: dict[str, Tenant]) -> Plan:
    out = Plan()
    for user_id in wanted or sorted(known):
        tenant = known.get(user_id)
        if tenant is None:
            raise CliError(f"unknown tenant {user_id!r} (`zoho-sync tenant list` shows them)")
        if tenant.status == "active":
            out.run.append(user_id)
        else:
            out.skipped[user_id] = tenant
    return out


def check_configuration(tenants_to_run: list[Tenant]) -> None:
    """Fail once, before any tenant, when the OAuth client is not configured for their data centers."""
    settings = get_settings()
    for data_center in sorted({t.data_center for t in tenants_to_run}):
        try:
            oauth_client_from_settings(settings, data_center)
        except SettingsError as exc:
            raise CliError(str(exc)) from None


def _skipped_notes(skipped: dict[str, Tenant]) -> None:
    for user_id, tenant in skipped.items():
        if tenant.status == "needs_reauth":
            why = tenant.status_reason or "refresh token refused"
            note(
                f"{user_id}: skipped, needs re-authorization ({why}); after the user connects again: "
                f"zoho-sync tenant reactivate --user-id {user_id} --refresh-token-stdin"
            )
        else:
            note(f"{user_id}: skipped, {tenant.status} (zoho-sync tenant enable --user-id {user_id})")


def run_all(user_ids: list[str], full_resync: bool, progress: StepProgress) -> dict[str, TenantRun]:
    runs: dict[str, TenantRun] = {}
    for user_id in user_ids:
        run = runs[user_id] = run_tenant(user_id, full_resync=full_resync, progress=progress.step_done(user_id))
        if run.error_type == "OAuthClientRejected":  # ours to fix, the same for every tenant: stop here
            raise CliError(run.error.split(": ", 2)[-1] if run.error else "the OAuth client was refused")
    return runs


def exit_code(runs: dict[str, TenantRun], skipped: dict[str, Tenant]) -> Exit:
    if any(run.error and run.error_type != _REAUTH for run in runs.values()):
        return Exit.FAILED
    reauth = [u for u, r in runs.items() if r.error_type == _REAUTH] + [
        u for u, t in skipped.items() if t.status == "needs_reauth"
    ]
    return Exit.NEEDS_REAUTH if reauth else Exit.OK


def cmd_run(args: argparse.Namespace) -> int:
    db = open_database(purpose="migrate" if args.migrate else "sync", schema=not args.migrate)
    try:
        if args.migrate:
            for migration in migrate(db):
                note(f"applied migration {migration.label}")
        work = plan(args.user_id, {t.user_id: t for t in tenants.list_all(db)})
        check_configuration([tenants.get_active(db, u) for u in work.run])
    finally:
        db.close()
    _skipped_notes(work.skipped)
    started = time.monotonic()
    with StepProgress(len(work.run)) as progress:
        runs = run_all(work.run, args.full_resync, progress)
    _report(runs, time.monotonic() - started, args.json)
    return exit_code(runs, work.skipped)


def _report(runs: dict[str, TenantRun], seconds: float, as_json: bool) -> None:
    db = open_database(announce=False)
    try:
        reports = tenant_reports(db, list(runs))
    finally:
        db.close()
    if as_json:
        result_json(
            [
                {"userId": u, "status": r.status, "error": r.error, "apiCalls": r.api_calls, "steps": r.steps}
                for u, r in runs.items()
            ]
        )
        return
    note(f"{len(runs)} tenant{'' if len(runs) == 1 else 's'} in {seconds:.1f} s")
    rows = [[*reports[user_id].row(run.api_calls), _status(run)] for user_id, run in runs.items()]
    result_table([*HEADERS[:-1], "Zoho calls this run", "status"], rows)
    for user_id, run in runs.items():
        if run.error_type == _REAUTH:
            note(
                f"{user_id}: needs re-authorization (Zoho refused its refresh token); after the user connects "
                f"again: zoho-sync tenant reactivate --user-id {user_id} --refresh-token-stdin"
            )


def _status(run: TenantRun) -> str:
    """What became of the tenant, as the README words it: re-authorization is reported, not a failure."""
    if run.error_type == _REAUTH:
        return "needs re-authorization"
    if run.status == "skipped":
        holders = [str(step["heldBy"]) for step in run.steps.values() if step.get("heldBy")]
        return "skipped (another run works on it" + (f": {holders[0]})" if holders else ")")
    return run.status + (f" ({run.error})" if run.error else "")


def register(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run the three steps in process for one or every active tenant",
        description="Customer sync, invoice sync and reminders in process (no Step Functions), against the "
        "configured database and Zoho, with progress on stderr and a summary. Exit code: 0 all synced, 1 a tenant "
        "failed, 3 tenants need re-authorization (nothing failed).",
    )
    run.add_argument(
        "--user-id", action="append", type=valid_user_id, help="a tenant (repeatable; default: all active)"
    )
    run.add_argument("--full-resync", action="store_true", help="reach back the whole sync window and reconcile")
    run.add_argument("--migrate", action="store_true", help="apply pending migrations first (default: refuse to run)")
    run.add_argument("--json", action="store_true", help="machine-readable summary")
    run.set_defaults(func=cmd_run)
