"""Pacing benchmark: the real client against the emulator limited to K calls per W seconds.

Prints the achieved call rate divided by the limit (target >= 0.9) and the 429s received (target 0).
The limit is scaled down from Zoho's 100/minute so the run takes about half a minute.
"""

from __future__ import annotations

import argparse
import os
import time

import bench_path  # noqa: F401 - first: takes bench/ off sys.path

from books_sync.settings import get_settings
from books_sync.storage import tenants
from books_sync.sync.clients import zoho_client
from zoho_sync_cli.local_stack import local_stack
from zoho_sync_cli.tables import render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--limit", type=int, default=20, help="K: calls allowed per window")
    parser.add_argument("--window", type=float, default=2.0, help="W: window in seconds")
    args = parser.parse_args()

    with local_stack() as stack:
        os.environ["ZOHO_RATE_LIMIT_CALLS"] = str(args.limit)
        os.environ["ZOHO_RATE_LIMIT_WINDOW_SECONDS"] = str(args.window)
        get_settings.cache_clear()
        db = stack.connect()
        stack.add_tenant(db, "bench-pacing", "org-pacing", customers=5, invoices=0, daily_call_budget=100_000)
        client = zoho_client(db, tenants.get_active(db, "bench-pacing"))
        client.get_organization()  # the token refresh happens here, outside the measurement
        stack.control.rate_limit(args.limit, args.window)
        time.sleep(args.window)  # start from an empty window
        stack.control.reset_stats()
        started = time.monotonic()
        completed: list[float] = []
        for _ in range(args.calls):
            client.get_organization()
            completed.append(time.monotonic())
        stats = stack.control.stats()
        db.close()

    elapsed = completed[-1] - started
    limit_rate = args.limit / args.window
    overall = args.calls / elapsed
    # The first window may burst K calls at once; the sustained rate is what the limit governs.
    sustained = (args.calls - args.limit) / (completed[-1] - completed[args.limit - 1])
    rejected = stats["statuses"].get("429", 0)
    print(f"emulator limit: {args.limit} calls per {args.window:g} s = {limit_rate:.2f} calls/s; {args.calls} calls")
    print(
        render(
            ["measure", "value"],
            [
                ["wall time (s)", f"{elapsed:.2f}"],
                ["achieved rate, whole run (calls/s)", f"{overall:.2f}"],
                ["achieved rate after the first window (calls/s)", f"{sustained:.2f}"],
                ["sustained rate / limit (target >= 0.9)", f"{sustained / limit_rate:.3f}"],
                ["429s received (target 0)", rejected],
                ["client retries", client.retries],
                ["calls the emulator saw", stats["total"]],
            ],
        )
    )


if __name__ == "__main__":
    main()
