"""Zoho allows about 100 calls a minute per organization. Two tenants of one organization, each with
its own process-like client and database connection, call at once: together they must keep under
the limit (the pace is shared through Postgres), and use most of it.

Prints the combined sustained rate against the emulator's limit and the 429s received.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import bench_path  # noqa: F401 - first: takes bench/ off sys.path

from books_sync.settings import get_settings
from books_sync.storage import tenants
from books_sync.sync.clients import zoho_client
from zoho_sync_cli.local_stack import LocalStack, local_stack
from zoho_sync_cli.tables import render


def hammer(stack: LocalStack, user_id: str, calls: int, done: list[float]) -> None:
    db = stack.connect()
    try:
        client = zoho_client(db, tenants.get_active(db, user_id))
        for _ in range(calls):
            client.get_organization()
            done.append(time.monotonic())
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300, help="calls in all, shared by the two tenants")
    parser.add_argument("--limit", type=int, default=20, help="K: calls allowed per window")
    parser.add_argument("--window", type=float, default=2.0, help="W: window in seconds")
    args = parser.parse_args()

    with local_stack() as stack:
        os.environ["ZOHO_RATE_LIMIT_CALLS"] = str(args.limit)
        os.environ["ZOHO_RATE_LIMIT_WINDOW_SECONDS"] = str(args.window)
        get_settings.cache_clear()
        db = stack.connect()
        token = stack.add_tenant(db, "bench-pace-a", "org-pacing", customers=5, invoices=0, daily_call_budget=100_000)
        tenants.upsert(db, user_id="bench-pace-b", organization_id="org-pacing", refresh_token=token)
        for user_id in ("bench-pace-a", "bench-pace-b"):
            zoho_client(db, tenants.get_active(db, user_id)).get_organization()  # tokens, outside the measurement
        stack.control.rate_limit(args.limit, args.window)
        time.sleep(args.window)  # start from an empty window
        stack.control.reset_stats()
        done: list[float] = []
        started = time.monotonic()
        workers = [
            threading.Thread(target=hammer, args=(stack, user_id, args.calls // 2, done))
            for user_id in ("bench-pace-a", "bench-pace-b")
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        stats = stack.control.stats()
        db.close()

    done.sort()
    limit_rate = args.limit / args.window
    sustained = (len(done) - 1) / (done[-1] - done[0])
    rejected = stats["statuses"].get("429", 0)
    print(f"emulator limit: {args.limit} calls per {args.window:g} s = {limit_rate:.2f} calls/s; {len(done)} calls")
    print("two tenants of one organization calling at once, each with its own client and connection")
    print(
        render(
            ["measure", "value"],
            [
                ["wall time (s)", f"{done[-1] - started:.2f}"],
                ["combined sustained rate (calls/s)", f"{sustained:.2f}"],
                ["sustained rate / limit (target >= 0.9, <= 1)", f"{sustained / limit_rate:.3f}"],
                ["429s received (target 0)", rejected],
                ["calls the emulator saw", stats["total"]],
            ],
        )
    )


if __name__ == "__main__":
    main()
