"""Customer sync benchmark: upsert throughput (set-based vs row by row) and Zoho calls per sync.

1. 10,000 customer rows written into the embedded Postgres as the sync writes them: one
   statement per page of 200 (the engine's way) and one statement per row, side by side in the
   same run, inserts then updates. Targets: set-based >= 20,000 rows/s and >= 10x row by row.
2. A first sync of 2,000 customers through the real step against the emulator over HTTP:
   Zoho calls made vs the lower bound (token + list pages + one detail per customer), target
   <= 2% over; then an incremental run with nothing changed, target <= 2 calls.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import bench_path  # noqa: F401 - first: takes bench/ off sys.path

from books_sync.db import Database
from books_sync.records.contacts import CustomerRecord
from books_sync.records.phones import PhoneChoice
from books_sync.settings import get_settings
from books_sync.storage import customers, sync_state
from zoho_sync_cli.local_stack import local_stack
from zoho_sync_cli.pipeline import run_tenant
from zoho_sync_cli.tables import render

PAGE = 200


def synthetic_rows(count: int, version: int) -> list[CustomerRecord]:
    """Customers as a detail gives them, with a few persons each."""
    rows = []
    for index in range(count):
        persons = [
            {
                "contact_person_id": f"p{index}-{n}",
                "first_name": f"First{n}",
                "last_name": f"Last {index}",
                "email": f"person{n}.{index}@example.com",
                "phone": f"+4420794{index % 100000:05d}",
                "mobile": None,
                "is_primary_contact": n == 0,
            }
            for n in range(3)
        ]
        rows.append(
            CustomerRecord(
                zoho_customer_id=f"{9_000_000_000 + index}",
                customer_name=f"Customer {index} v{version}",
                primary_phone=f"+4420794{index % 100000:05d}",
                primary_email=f"person0.{index}@example.com",
                contact_persons=persons,
                country_code="GB",
                timezone="Europe/London",
                zoho_last_modified_at=datetime(2026, 1 + version, 1, 10, tzinfo=UTC),
                sync_hash=f"{version:02d}{index:062d}",
                phone=PhoneChoice(f"+4420794{index % 100000:05d}", "GB", "primary person phone", None),
            )
        )
    return rows


def write(db: Database, user_id: str, rows: Sequence[CustomerRecord], batch: int) -> float:
    """Seconds to write `rows` in statements of `batch` rows, one transaction per page as the engine does."""
    started = time.perf_counter()
    for page_start in range(0, len(rows), PAGE):
        page = rows[page_start : page_start + PAGE]
        with db.transaction():
            for start in range(0, len(page), batch):
                customers.upsert_page(db, user_id, page[start : start + batch], [])
    return time.perf_counter() - started


def upsert_throughput(db: Database, count: int) -> list[list[str]]:
    for user_id in ("bench-set", "bench-row"):
        db.run("INSERT INTO users (id) VALUES (:u) ON CONFLICT DO NOTHING", u=user_id)
        db.run("DELETE FROM customers_cache WHERE user_id = :u", u=user_id)
    write(db, "bench-set", synthetic_rows(PAGE, 0), PAGE)  # warm-up: catalogs and plans, not measured
    db.run("DELETE FROM customers_cache WHERE user_id = 'bench-set'")
    figures = []
    for label, version in (("insert", 1), ("update", 2)):
        rows = synthetic_rows(count, version)
        set_based = write(db, "bench-set", rows, PAGE)
        row_by_row = write(db, "bench-row", rows, 1)
        for user_id in ("bench-set", "bench-row"):
            stored = db.scalar(
                "SELECT count(*) FROM customers_cache WHERE user_id = :u AND customer_name LIKE :v",
                u=user_id,
                v=f"% v{version}",
            )
            assert stored == count, f"{user_id}: {stored} rows of {count} written"
        figures.append(
            [
                label,
                f"{count / set_based:,.0f}",
                f"{count / row_by_row:,.0f}",
                f"{row_by_row / set_based:.1f}x",
            ]
        )
    return figures


def sync_calls(stack: Any, db: Database, count: int) -> list[list[str]]:
    stack.add_tenant(
        db,
        "bench-calls",
        "org-bench-calls",
        customers=count,
        invoices=0,
        old_customer_share=0.0,
        seed=7,
        daily_call_budget=100_000,
    )
    started = time.perf_counter()
    first = run_tenant("bench-calls")
    first_seconds = time.perf_counter() - started
    stored = sync_state.cached_rows(db, "bench-calls", "customer")
    bound = 1 + 1 + math.ceil(stored / PAGE) + 1 + stored  # token, organization, contact pages, invoice page, details
    started = time.perf_counter()
    second = run_tenant("bench-calls")
    second_seconds = time.perf_counter() - started
    if first.error or second.error:
        raise SystemExit(f"the sync did not complete: {first.error or second.error}")
    customer_calls = first.steps["customer-sync"]["apiCalls"]
    return [
        ["customers stored", f"{stored}", ""],
        ["first sync, customer step (list only): Zoho calls", f"{customer_calls}", ""],
        ["first sync, whole pipeline: Zoho calls", f"{first.api_calls}", f"{first_seconds:.1f} s"],
        ["first sync: lower bound (token, org, pages, one detail each)", f"{bound}", ""],
        ["first sync: over the bound (target <= 2%)", f"{100 * (first.api_calls - bound) / bound:.2f}%", ""],
        ["incremental, nothing changed: Zoho calls (target <= 2)", f"{second.api_calls}", f"{second_seconds:.2f} s"],
        ["incremental: details fetched", f"{second.steps['invoice-sync']['detailsFetched']}", ""],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=2_000)
    args = parser.parse_args()
    with local_stack() as stack:
        os.environ["ZOHO_RATE_LIMIT_CALLS"] = "1000000"  # the emulator has no limit here: measure our work
        get_settings.cache_clear()
        db = stack.connect()
        throughput = upsert_throughput(db, args.rows)
        calls = sync_calls(stack, db, args.customers)
        db.close()
    print(f"upsert of {args.rows:,} customer rows (embedded Postgres), rows/s:")
    print(render(["write", "set-based (1 stmt/200 rows)", "row by row", "speed-up (target >= 10x)"], throughput))
    print()
    print(f"first sync of {args.customers:,} customers, then an incremental run with no change:")
    print(render(["measure", "value", "wall time"], calls))


if __name__ == "__main__":
    main()
