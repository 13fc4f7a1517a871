"""A new tenant on Zoho's free plan: when do its first reminders exist?

5,000 customers and 20,000 invoices, 15% of them open and falling due in 5 to 40 days. The
tenant's budget is 1,000 calls a day; it runs once a simulated day (the day's usage cleared
between runs; the clock itself does not move). A twin tenant of the same data with no daily limit
says what should exist. Per day: reminders existing against the twin, reminders late (created only
on a simulated day after their send time's), and calls spent.

Goals: 0 late; equal to the twin within ceil((list pages + one detail per customer) / (budget -
reserve)) days; after day 1, every reminder due in the first 3 days exists.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from datetime import datetime, timedelta
from typing import Any

import bench_path  # noqa: F401 - first: takes bench/ off sys.path

from books_sync.db import Database
from books_sync.settings import get_settings
from zoho_sync_cli.local_stack import LocalStack, local_stack
from zoho_sync_cli.pipeline import run_tenant
from zoho_sync_cli.tables import render

NEW, TWIN = "bench-new", "bench-twin"


def reminders(db: Database, user_id: str) -> dict[tuple[str, int], datetime]:
    """(invoice number, offset) → send time (twin tenants share invoice numbers)."""
    rows = db.run(
        "SELECT i.invoice_number, r.offset_days, r.scheduled_for FROM reminders AS r "
        "JOIN invoices_cache AS i ON i.id = r.invoice_id WHERE r.user_id = :u",
        u=user_id,
    )
    return {(row[0], row[1]): row[2] for row in rows}


def day_of(moment: datetime, start: datetime) -> int:
    """Simulated day 1 is the first 24 hours from the start."""
    return math.floor((moment - start) / timedelta(days=1)) + 1


def run_day(user_id: str) -> int:
    run = run_tenant(user_id)
    if run.error:
        raise SystemExit(f"{user_id}: {run.error}")
    return run.api_calls


def simulate(stack: LocalStack, db: Database, args: argparse.Namespace) -> tuple[list[list[Any]], dict[str, Any]]:
    dataset = {"customers": args.customers, "invoices": args.invoices, "seed": 2027, "open_share": args.open_share}
    stack.add_tenant(db, NEW, "org-new", daily_call_budget=args.budget, daily_limit=1_000_000, **dataset)
    stack.add_tenant(db, TWIN, "org-twin", daily_call_budget=1_000_000, daily_limit=1_000_000, **dataset)
    start = datetime.now().astimezone()
    twin_calls = run_day(TWIN)
    twin = reminders(db, TWIN)
    rows: list[list[Any]] = []
    first_three_missing, late = -1, 0
    mine: dict[tuple[str, int], datetime] = {}
    for day in range(1, args.days + 1):
        db.run("DELETE FROM zoho_api_usage WHERE organization_id = 'org-new'")  # a new day's quota
        calls = run_day(NEW)
        before, mine = mine, reminders(db, NEW)
        late += sum(1 for key, sent in mine.items() if key not in before and day_of(sent, start) < day)
        if day == 1:
            first_three = [key for key, sent in twin.items() if day_of(sent, start) <= 3]
            first_three_missing = sum(1 for key in first_three if key not in mine)
        rows.append([day, f"{len(mine):,}", f"{len(twin):,}", late, f"{calls:,}"])
        if set(mine) == set(twin):
            break
    summary = {"twin_calls": twin_calls, "first_three_missing": first_three_missing, "days": len(rows)}
    return rows, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--invoices", type=int, default=20_000)
    parser.add_argument("--open-share", type=float, default=0.15)
    parser.add_argument("--budget", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=12)
    args = parser.parse_args()
    started = time.monotonic()
    with local_stack() as stack:
        os.environ["ZOHO_RATE_LIMIT_CALLS"] = "1000000"  # count calls; do not wait for the pace
        get_settings.cache_clear()
        db = stack.connect()
        rows, summary = simulate(stack, db, args)
        db.close()
    reserve = math.ceil(args.budget * get_settings().details_budget_reserve)
    pages = math.ceil(args.customers * 1.05 / 200) + math.ceil(args.invoices / 200)
    bound = math.ceil((pages + args.customers) / (args.budget - reserve))
    print(f"{args.customers:,} customers, {args.invoices:,} invoices ({args.open_share:.0%} open, due in 5-40 days),")
    print(f"a budget of {args.budget:,} calls a day ({reserve} kept for incremental runs), one run a simulated day:")
    print(render(["day", "reminders", "twin (no limit)", "late (target 0)", "calls"], rows))
    print(f"days to equal the twin: {summary['days']} (target <= {bound})")
    print(f"the twin's one run: {summary['twin_calls']:,} calls")
    print(f"reminders due in the first 3 days missing after day 1 (target 0): {summary['first_three_missing']}")
    print(f"wall time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
