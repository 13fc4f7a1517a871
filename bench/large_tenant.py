"""Large tenant: 10,000 customers and 50,000 invoices, a full first sync then an incremental run.

The emulator runs in its own process (`zoho-sync emulator`, no rate limit) so this process holds
only what a Lambda would: the three steps run in process as `zoho-sync run` does. Prints wall
time per step, rows/s, Zoho calls and this process's peak RSS.
Targets: first sync < 60 s on a 2-core machine, peak RSS < 256 MB, incremental run < 5 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_path  # noqa: F401 - first: takes bench/ off sys.path

from books_sync.db import connect_from_settings
from books_sync.embedded_db import embedded_server
from books_sync.migrator import migrate
from books_sync.settings import get_settings
from books_sync.storage import tenants
from zoho_sync_cli.pipeline import run_tenant
from zoho_sync_cli.tables import render

ORG = "70000000001"
TOKEN = "1000.refresh.large"  # noqa: S105 - the emulator's test token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the emulator exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the emulator did not start")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def timed_run(user_id: str) -> tuple[dict[str, float], dict[str, dict[str, Any]], int, float]:
    """Per-step wall time (from the progress callbacks), per-step summaries, Zoho calls, total seconds."""
    times: dict[str, float] = {}
    last = time.perf_counter()

    def progress(step: str, summary: dict[str, Any]) -> None:
        nonlocal last
        now = time.perf_counter()
        times[step] = times.get(step, 0.0) + now - last
        last = now

    started = time.perf_counter()
    result = run_tenant(user_id, progress=progress)
    total = time.perf_counter() - started
    if result.error:
        raise SystemExit(f"the sync failed: {result.error}")
    return times, result.steps, result.api_calls, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=50_000)
    args = parser.parse_args()

    port = free_port()
    cli = Path(sys.executable).with_name("zoho-sync")
    emulator = subprocess.Popen(
        [str(cli), "emulator", "--port", str(port), "--org", ORG, "--customers", str(args.customers),
         "--invoices", str(args.invoices), "--refresh-token", TOKEN, "--seed", "10"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    server = embedded_server(Path(tempfile.mkdtemp(prefix="zoho-sync-large-")) / "postgres", delete_on_stop=True)
    try:
        wait_for(port, emulator)
        os.environ.update(
            DATABASE_URL=server.url,
            ZOHO_API_BASE_URL=f"http://127.0.0.1:{port}/books/v3",
            ZOHO_ACCOUNTS_BASE_URL=f"http://127.0.0.1:{port}",
            ZOHO_CLIENT_ID="emulator-client",
            ZOHO_CLIENT_SECRET="emulator-secret",  # noqa: S106 - the emulator's
            ZOHO_RATE_LIMIT_CALLS="1000000",
        )
        get_settings.cache_clear()
        db = connect_from_settings()
        migrate(db)
        tenants.upsert(db, user_id="large", organization_id=ORG, refresh_token=TOKEN, daily_call_budget=1_000_000)
        db.close()
        rss_before = peak_rss_mb()
        first_times, first_steps, first_calls, first_total = timed_run("large")
        rss_first = peak_rss_mb()
        quiet_times, _, quiet_calls, quiet_total = timed_run("large")
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        server.stop()

    rows = []
    for step, key in (("customer-sync", "fetched"), ("invoice-sync", "fetched"), ("reminders", "created")):
        summary = first_steps.get(step, {})
        count = int(summary.get(key, 0))
        seconds = first_times.get(step, 0.0)
        rate = f"{count / seconds:,.0f}/s" if seconds else ""
        rows.append(
            [f"first sync: {step}", f"{seconds:.1f} s", f"{count:,} {key}", rate, str(summary.get("apiCalls", 0))]
        )
    rows.append(["first sync: total (target < 60 s)", f"{first_total:.1f} s", "", "", f"{first_calls:,}"])
    for step in ("customer-sync", "invoice-sync", "reminders"):
        rows.append([f"incremental: {step}", f"{quiet_times.get(step, 0.0):.2f} s", "", "", ""])
    rows.append(["incremental: total (target < 5 s)", f"{quiet_total:.2f} s", "", "", str(quiet_calls)])
    print(f"{args.customers:,} customers, {args.invoices:,} invoices; emulator in its own process, no rate limit")
    print(render(["run", "wall time", "rows", "rows/s", "Zoho calls"], rows))
    print(f"peak RSS of the sync process: {rss_first:.0f} MB (target < 256 MB; {rss_before:.0f} MB before the sync)")


if __name__ == "__main__":
    main()
