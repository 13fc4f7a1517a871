"""Zoho API calls: this design vs the old one, side by side on one emulator dataset.

Two emulator organizations from the same seed (2,000 customers, 10,000 invoices, 15% of
customers without a phone). One is synced by our three steps (customers from the Contacts API,
then invoices, then reminders); the other by the old design: the invoice list plus one invoice
detail per listed invoice (the only way to get phones from invoices). Both use the real client
over HTTP. Then a quiet incremental run (nothing changed in Zoho) of each.
Targets: first sync >= 4x fewer calls; quiet incremental <= 3 calls per tenant for all three steps.

Then the freshen (`books_sync.steps.freshen`) of a quiet tenant under each emulator profile: a reminder
due now, the tenant's confirmation 16 minutes old (older than its 15-minute freshness), one freshen:
its Books calls (the token endpoint aside; target <= 3).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import bench_path  # noqa: F401 - first: takes bench/ off sys.path

from books_sync.db import Database
from books_sync.settings import get_settings
from books_sync.steps.freshen import freshen
from books_sync.storage import tenants
from books_sync.sync.clients import zoho_client
from books_sync.sync.time_budget import TimeBudget
from zoho_sync_cli.lambda_context import LocalLambdaContext
from zoho_sync_cli.local_stack import LocalStack, local_stack
from zoho_sync_cli.pipeline import run_tenant
from zoho_sync_cli.tables import render


def old_design_sync(db: Database, user_id: str, since: datetime) -> tuple[int, int, datetime]:
    """The previous design's invoice sync: list + one detail per invoice. Returns (calls, invoices, cursor)."""
    client = zoho_client(db, tenants.get_active(db, user_id))
    seen = 0
    cursor = since
    number, more = 1, True
    while more:
        page = client.invoices_page(since, number)
        number, more = number + 1, page.has_more
        for row in page.rows:
            client.get_invoice(str(row["invoice_id"]))  # for the customer's phone numbers
            seen += 1
            cursor = max(cursor, datetime.strptime(row["last_modified_time"], "%Y-%m-%dT%H:%M:%S%z"))
    return client.calls, seen, cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--invoices", type=int, default=10_000)
    args = parser.parse_args()
    dataset = {"customers": args.customers, "invoices": args.invoices, "seed": 2026, "no_phone_share": 0.15}
    with local_stack() as stack:
        os.environ["ZOHO_RATE_LIMIT_CALLS"] = "1000000"  # count calls, not wait for the pacer
        get_settings.cache_clear()
        db = stack.connect()
        rows = compare(stack, db, dataset)
        profiles = quiet_runs_per_profile(stack, db, {**dataset, "customers": 500, "invoices": 2_000})
        freshens = freshen_per_profile(stack, db)
        db.close()
    print(f"{args.customers:,} customers, {args.invoices:,} invoices (same seed for both designs):")
    print(render(["run", "ours: calls", "old design: calls", "old / ours", "ours: wall time"], rows))
    print("\nZoho as documented and as seen (500 customers, 2,000 invoices): the calls of a quiet hourly run")
    print(render(["emulator profile", "first sync: calls", "quiet run: calls (target <= 3)", "per step"], profiles))
    print("\nThe freshen of a quiet tenant with a reminder due now, its confirmation 16 minutes old")
    print(render(["emulator profile", "tenant", "outcome", "Books calls (target <= 3)", "by endpoint"], freshens))


def compare(stack: LocalStack, db: Database, dataset: dict[str, Any]) -> list[list[str]]:
    big = 1_000_000  # our budget, and the quota Zoho reports: neither design is cut short
    stack.add_tenant(db, "bench-ours", "org-bench-ours", daily_call_budget=big, daily_limit=big, **dataset)
    stack.add_tenant(db, "bench-old", "org-bench-old", daily_call_budget=big, daily_limit=big, **dataset)
    window_start = datetime.now(UTC) - timedelta(days=365)

    started = time.perf_counter()
    first = run_tenant("bench-ours")
    first_seconds = time.perf_counter() - started
    if first.error:
        raise SystemExit(f"our sync failed: {first.error}")
    old_first, old_invoices, cursor = old_design_sync(db, "bench-old", window_start)

    started = time.perf_counter()
    quiet = run_tenant("bench-ours")
    quiet_seconds = time.perf_counter() - started
    old_quiet, _, _ = old_design_sync(
        db, "bench-old", cursor - timedelta(seconds=get_settings().cursor_overlap_seconds)
    )

    ours_invoices = int(db.scalar("SELECT count(*) FROM invoices_cache WHERE user_id = 'bench-ours'"))
    reminders = int(db.scalar("SELECT count(*) FROM reminders WHERE user_id = 'bench-ours'"))
    per_step = ", ".join(f"{step} {summary['apiCalls']}" for step, summary in quiet.steps.items())
    return [
        [
            "first sync",
            f"{first.api_calls:,}",
            f"{old_first:,}",
            f"{old_first / first.api_calls:.1f}x (target >= 4x)",
            f"{first_seconds:.1f} s",
        ],
        [
            "quiet incremental",
            f"{quiet.api_calls} ({per_step}; target <= 3)",
            f"{old_quiet:,}",
            f"{old_quiet / max(quiet.api_calls, 1):.1f}x",
            f"{quiet_seconds:.2f} s",
        ],
        ["invoices stored / listed", f"{ours_invoices:,}", f"{old_invoices:,}", "", ""],
        ["reminders scheduled", f"{reminders:,}", "", "", ""],
    ]


def quiet_runs_per_profile(stack: LocalStack, db: Database, dataset: dict[str, Any]) -> list[list[str]]:
    """`observed`: filters and sorts honoured; `documented`: contacts' filter ignored, invoices unsorted."""
    rows = []
    for profile in ("observed", "documented"):
        user_id = f"bench-{profile}"
        stack.add_tenant(db, user_id, f"org-{profile}", daily_call_budget=1_000_000, profile=profile, **dataset)
        first = run_tenant(user_id)
        quiet = run_tenant(user_id)
        if first.error or quiet.error:
            raise SystemExit(f"{profile}: {first.error or quiet.error}")
        per_step = ", ".join(f"{step} {summary['apiCalls']}" for step, summary in quiet.steps.items())
        rows.append([profile, f"{first.api_calls:,}", str(quiet.api_calls), per_step])
    return rows


def freshen_per_profile(stack: LocalStack, db: Database) -> list[list[str]]:
    """A small tenant (its unpaid list one page) and a larger one (several pages: the due invoice is read by id)."""
    rows = []
    for profile in ("observed", "documented"):
        for label, invoices in (("200 customers, 1,000 invoices", 1_000), ("500 customers, 5,000 invoices", 5_000)):
            user_id = f"freshen-{profile}-{invoices}"
            organization_id = f"org-{user_id}"
            stack.add_tenant(
                db, user_id, organization_id, daily_call_budget=1_000_000, profile=profile, seed=7,
                customers=invoices // 5, invoices=invoices, open_share=0.5, country_code="GB",
            )  # fmt: skip
            _due_now(stack, db, user_id, organization_id)
            if run_tenant(user_id).error:
                raise SystemExit(f"{user_id}: the sync failed")
            _age_confirmation(db, user_id, minutes=16)
            before = _books_calls(stack, organization_id)
            summary = freshen(db, get_settings(), TimeBudget(LocalLambdaContext("freshen"), 60), user_ids=[user_id])
            after = _books_calls(stack, organization_id)
            calls = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
            outcome = summary.tenants[0].outcome if summary.tenants else "not selected"
            rows.append(
                [profile, label, outcome, str(sum(calls.values())), ", ".join(f"{k} {v}" for k, v in calls.items())]
            )
    return rows


def _due_now(stack: LocalStack, db: Database, user_id: str, organization_id: str) -> None:
    """One customer whose invoice's only reminder was wanted an hour ago (within the grace: due now)."""
    an_hour_ago = datetime.now(ZoneInfo("Europe/London")) - timedelta(hours=1)
    customer = stack.control.create_contact(
        organization_id, phone="+44 161 496 0000", billing_country="United Kingdom", payment_reminder_enabled=True
    )
    stack.control.create_invoice(organization_id, customer["contact_id"], due_date=an_hour_ago.date().isoformat())
    db.run(
        "UPDATE sync_metadata SET reminder_offsets_days = '{0}', reminder_local_hour = :h WHERE user_id = :u",
        h=an_hour_ago.hour,
        u=user_id,
    )


def _age_confirmation(db: Database, user_id: str, minutes: float) -> None:
    """As if `minutes` passed since the sync confirmed the tenant's data."""
    db.run(
        "UPDATE sync_metadata SET confirmed_at = confirmed_at - make_interval(mins => :m), customer_pass_started_at "
        "= customer_pass_started_at - make_interval(mins => :m), invoice_pass_started_at = invoice_pass_started_at "
        "- make_interval(mins => :m) WHERE user_id = :u",
        m=minutes,
        u=user_id,
    )
    db.run(
        "UPDATE invoices_cache SET reconciled_at = reconciled_at - make_interval(mins => :m) WHERE user_id = :u",
        m=minutes,
        u=user_id,
    )


def _books_calls(stack: LocalStack, organization_id: str) -> dict[str, int]:
    by_endpoint: dict[str, int] = stack.control.stats()["by_org"].get(organization_id, {})
    return {endpoint: count for endpoint, count in by_endpoint.items() if endpoint != "token"}


if __name__ == "__main__":
    main()
