"""`zoho-sync freshen`: what the freshen function does on its schedule, in process, once.

Confirms against Zoho the tenants whose reminders are about to be wanted (or the ones named), then says
per tenant whether its data is now confirmed and what it cost, and how many reminders were given up
because they waited past their grace unconfirmed.
"""

from __future__ import annotations

import argparse
from typing import Any

from books_sync.settings import get_settings
from books_sync.steps.freshen import freshen
from books_sync.storage import tenants
from books_sync.sync.time_budget import TimeBudget
from zoho_sync_cli.console import CliError, Exit, note, result_json, result_table
from zoho_sync_cli.database import open_database
from zoho_sync_cli.lambda_context import LocalLambdaContext
from zoho_sync_cli.tenant_cmd import valid_user_id


def cmd_freshen(args: argparse.Namespace) -> int:
    settings = get_settings()
    db = open_database()
    try:
        for user_id in args.user_id or []:
            if tenants.get(db, user_id) is None:
                raise CliError(f"unknown tenant {user_id!r} (`zoho-sync tenant list` shows them)")
        budget = TimeBudget(LocalLambdaContext("freshen"), settings.time_safety_margin_seconds)
        summary = freshen(db, settings, budget, user_ids=args.user_id)
    finally:
        db.close()
    if args.json:
        result_json(summary.to_output())
    else:
        _print(summary.to_output())
    failed = any(tenant.outcome == "failed" for tenant in summary.tenants)
    return Exit.FAILED if failed else Exit.OK


def _print(output: dict[str, Any]) -> None:
    counts = output["counts"]
    for reason, missed in output["missed"].items():
        note(f"{missed} reminder(s) given up, not confirmed by Zoho within their grace: {reason}")
    if not output["tenants"]:
        note("no tenant needs confirming now (none has a reminder due soon on data older than its freshness)")
        return
    rows = [
        [t["userId"], t["outcome"] + (f" ({t['error']})" if t["error"] else ""), t["apiCalls"], t["cancelled"]]
        for t in output["tenants"]
    ]
    result_table(["tenant", "outcome", "Zoho calls", "reminders cancelled"], rows)
    if counts["notReached"]:
        note(f"{counts['notReached']} tenant(s) not reached in time: the next freshen takes them first")


def register(commands: Any) -> None:
    p = commands.add_parser(
        "freshen",
        help="confirm with Zoho the tenants whose reminders are about to go out",
        description="What the freshen function does every few minutes: tenants with a reminder wanted before the "
        "next freshen, whose data Zoho confirmed longer ago than their freshness, get one run of their steps "
        "(a few Zoho calls); reminders that waited past their grace unconfirmed are given up with the reason. "
        "Exit code: 0, or 1 when a tenant failed.",
    )
    p.add_argument("--user-id", action="append", type=valid_user_id, help="a tenant (repeatable; default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=cmd_freshen)
