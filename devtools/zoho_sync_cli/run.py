"""`zoho-sync run`: the three steps in process for the chosen tenants, with progress and a summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from books_sync.db import connect_from_settings
from books_sync.migrator import migrate
from books_sync.storage import tenants
from zoho_sync_cli.pipeline import TenantRun, run_tenant
from zoho_sync_cli.report import HEADERS, tenant_reports
from zoho_sync_cli.tables import render


def _progress(user_id: str) -> Any:
    """One line per step call: status, counts and wall time (bench/large_tenant.py reads these)."""
    last = time.perf_counter()

    def show(step: str, summary: dict[str, Any]) -> None:
        nonlocal last
        now = time.perf_counter()
        counts = ", ".join(
            f"{key} {summary[key]}"
            for key in ("fetched", "inserted", "updated", "created", "cancelled", "apiCalls")
            if key in summary
        )
        more = " (more to do)" if summary.get("hasMore") else ""
        print(f"  {user_id} {step}: {summary.get('status')}, {counts} in {now - last:.2f} s{more}", flush=True)
        last = now

    return show


def run_tenants(user_ids: Sequence[str] | None, *, full_resync: bool = False) -> int:
    db = connect_from_settings()
    try:
        migrate(db)
        active = [t.user_id for t in tenants.list_all(db) if t.status == "active"]
        wanted = list(user_ids) if user_ids else active
        before = {u: r.zoho_calls for u, r in tenant_reports(db, wanted).items()}
        runs: dict[str, TenantRun] = {}
        started = time.monotonic()
        for user_id in wanted:
            runs[user_id] = run_tenant(user_id, full_resync=full_resync, progress=_progress(user_id))
        seconds = time.monotonic() - started
        reports = tenant_reports(db, wanted)
    finally:
        db.close()
    rows = []
    for user_id in wanted:
        run = runs[user_id]
        report = reports.get(user_id)
        calls = report.zoho_calls - before.get(user_id, 0) if report else 0
        status = run.status + (f" ({run.error})" if run.error else "")
        rows.append([*(report.row(calls) if report else [user_id, "unknown tenant", "", "", "", "", "", 0]), status])
    print(f"\n{len(wanted)} tenant(s) in {seconds:.1f} s")
    print(render([*HEADERS[:-1], "Zoho calls this run", "status"], rows))
    failed = [u for u, r in runs.items() if r.error]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
