"""Large tenant: 10,000 customers and 50,000 invoices (`--scale`: then 100,000 and 500,000, and the time per
row of each step at both sizes side by side), a full first sync then an incremental run.

Both runs are `zoho-sync run --user-id large` processes, as an operator would start them, against
an embedded Postgres and the emulator in its own process (`zoho-sync emulator`, no rate limit).
Prints wall time per step (from the command's progress lines), rows/s, Zoho calls and the peak
RSS of each `zoho-sync run` process (what a Lambda of the same code would hold).
Targets: first sync < 60 s on a 2-core machine (10 minutes at 100,000 / 500,000), peak RSS < 256 MB,
incremental run < 5 s, time per row within 20% across the sizes.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import bench_path  # noqa: F401 - first: takes bench/ off sys.path

from books_sync.db import connect_from_settings
from books_sync.migrator import migrate
from books_sync.settings import get_settings
from books_sync.storage import tenants
from zoho_sync_cli.embedded_db import embedded_server
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


PROGRESS = re.compile(r"^  large (?P<step>[a-z-]+): (?P<status>\w+), (?P<counts>.*) in (?P<seconds>[\d.]+) s")


@dataclass
class Run:
    seconds: dict[str, float] = field(default_factory=dict)  # step → wall time over its hasMore calls
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # step → summed counts
    total_seconds: float = 0.0
    peak_rss_mb: float = 0.0


def zoho_sync_run(cli: Path) -> Run:
    """One `zoho-sync run --user-id large` process: its progress lines, wall time and peak RSS."""
    run = Run()
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(cli), "run", "--user-id", "large"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output = []
    for line in process.stdout:
        output.append(line)
        match = PROGRESS.match(line)
        if match is None:
            continue
        step = match["step"]
        run.seconds[step] = run.seconds.get(step, 0.0) + float(match["seconds"])
        counts = run.counts.setdefault(step, {})
        for name, value in re.findall(r"(\w+) (\d+)", match["counts"]):
            counts[name] = counts.get(name, 0) + int(value)
    _, status, usage = os.wait4(process.pid, 0)
    run.total_seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        why = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        raise SystemExit(f"zoho-sync run failed ({why}):\n{''.join(output)[-3000:]}")
    run.peak_rss_mb = usage.ru_maxrss / 1024  # kB on Linux
    return run


@dataclass
class Measured:
    customers: int
    invoices: int
    first: Run
    quiet: Run


def measure(cli: Path, customers: int, invoices: int) -> Measured:
    """A first sync and an incremental run of a tenant of this size (its own emulator and database)."""
    port = free_port()
    emulator = subprocess.Popen(
        [str(cli), "emulator", "--port", str(port), "--org", ORG, "--customers", str(customers), "--invoices",
         str(invoices), "--refresh-token", TOKEN, "--seed", "10", "--daily-limit", "100000000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = embedded_server(Path(tempfile.mkdtemp(prefix="zoho-sync-large-")) / "postgres", delete_on_stop=True)
    try:
        wait_for(port, emulator, timeout=900)
        os.environ.update(
            DATABASE_URL=server.url,
            ZOHO_API_BASE_URL=f"http://127.0.0.1:{port}/books/v3",
            ZOHO_ACCOUNTS_BASE_URL=f"http://127.0.0.1:{port}",
            ZOHO_CLIENT_ID="emulator-client",
            ZOHO_CLIENT_SECRET="emulator-secret",  # noqa: S106 - the emulator's
            ZOHO_RATE_LIMIT_CALLS="100000000",
        )
        get_settings.cache_clear()
        db = connect_from_settings()
        migrate(db)
        tenants.upsert(db, user_id="large", organization_id=ORG, refresh_token=TOKEN, daily_call_budget=100_000_000)
        db.close()
        return Measured(customers, invoices, zoho_sync_run(cli), zoho_sync_run(cli))
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        server.stop()


STEPS = (("customer-sync", "fetched"), ("invoice-sync", "fetched"), ("reminders", "created"))


def report(measured: Measured) -> None:
    first, quiet = measured.first, measured.quiet
    rows = []
    for step, key in STEPS:
        count = first.counts.get(step, {}).get(key, 0)
        seconds = first.seconds.get(step, 0.0)
        rate = f"{count / seconds:,.0f}/s" if seconds else ""
        calls = first.counts.get(step, {}).get("apiCalls", 0)
        rows.append([f"first sync: {step}", f"{seconds:.1f} s", f"{count:,} {key}", rate, f"{calls:,}"])
    first_calls = sum(c.get("apiCalls", 0) for c in first.counts.values())
    target = "60 s" if measured.customers <= 10_000 else "10 min"
    rows.append([f"first sync: the process (target < {target})", f"{first.total_seconds:.1f} s", "", "",
                 f"{first_calls:,}"])  # fmt: skip
    for step, _ in STEPS:
        calls = quiet.counts.get(step, {}).get("apiCalls", 0)
        rows.append([f"incremental: {step}", f"{quiet.seconds.get(step, 0.0):.2f} s", "", "", str(calls)])
    quiet_calls = sum(c.get("apiCalls", 0) for c in quiet.counts.values())
    rows.append(["incremental: the process (target < 5 s)", f"{quiet.total_seconds:.2f} s", "", "", str(quiet_calls)])
    print(f"\n{measured.customers:,} customers, {measured.invoices:,} invoices; `zoho-sync run` processes, emulator in")
    print("its own process, no rate limit; a process's wall time includes starting Python and its imports")
    print(render(["run", "wall time", "rows", "rows/s", "Zoho calls"], rows))
    print(
        f"peak RSS of the `zoho-sync run` process: first sync {first.peak_rss_mb:.0f} MB, incremental "
        f"{quiet.peak_rss_mb:.0f} MB (target < 256 MB)"
    )


def scaling(small: Measured, large: Measured) -> None:
    """Time per row of each step at both sizes, side by side: linear means the same (target: within 20%)."""
    rows = []
    for step, key in STEPS:
        per_row = []
        for measured in (small, large):
            count = measured.first.counts.get(step, {}).get(key, 0)
            per_row.append(measured.first.seconds.get(step, 0.0) / count * 1000 if count else 0.0)
        ratio = per_row[1] / per_row[0] if per_row[0] else 0.0
        rows.append([step, f"{per_row[0]:.3f} ms", f"{per_row[1]:.3f} ms", f"{ratio:.2f}"])
    print(f"\nscaling: time per row, {small.customers:,} and {large.customers:,} customers (target: ratio within 1.2)")
    print(render(["step (rows)", f"{small.customers:,}", f"{large.customers:,}", "ratio"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument(
        "--scale", action="store_true", help="also 10x the size, and the time per row of each step side by side"
    )
    args = parser.parse_args()
    cli = Path(sys.executable).with_name("zoho-sync")
    small = measure(cli, args.customers, args.invoices)
    report(small)
    if args.scale:
        large = measure(cli, args.customers * 10, args.invoices * 10)
        report(large)
        scaling(small, large)


if __name__ == "__main__":
    main()
