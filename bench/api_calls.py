"""Zoho API calls: this design vs the old one, side by side on one emulator dataset.

Two emulator organizations from the same seed (2,000 customers, 10,000 invoices, 15% of
customers without a phone). One is synced by our three steps (customers from the Contacts API,
then invoices, then reminders); the other by the old design: the invoice list plus one invoice
detail per listed invoice (the only way to get phones from invoices). Both use the real client
over HTTP. Then a quiet incremental run (nothing changed in Zoho) of each.
Targets: first sync >= 4x fewer calls; quiet incremental <= 3 calls per tenant for all three steps.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import bench_path  # noqa: F401 - first: takes bench/ off sys.path

from books_sync.db import Database
from books_sync.settings import get_settings
from books_sync.storage import tenants
from books_sync.sync.clients import zoho_client
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
        db.close()
    print(f"{args.customers:,} customers, {args.invoices:,} invoices (same seed for both designs):")
    print(render(["run", "ours: calls", "old design: calls", "old / ours", "ours: wall time"], rows))
    print("\nZoho as documented and as seen (500 customers, 2,000 invoices): the calls of a quiet hourly run")
    print(render(["emulator profile", "first sync: calls", "quiet run: calls (target <= 3)", "per step"], profiles))


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


if __name__ == "__main__":
    main()
