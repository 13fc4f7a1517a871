"""Large tenant: 10,000 customers and 50,000 invoices (`--scale`: then 100,000 and 500,000, and the time per
row of each step at both sizes side by side): a full first sync, an incremental run, then a run with both
deletion reconciles due after 1 in 200 customers and 1 in 200 open invoices were deleted in Zoho.

Both runs are `zoho-sync run --user-id large` processes, as an operator would start them, against
an embedded Postgres and the emulator in its own process (`zoho-sync emulator`, no rate limit).
Prints wall time per step (from the command's progress lines), rows/s, Zoho calls and the peak
RSS of each `zoho-sync run` process (what a Lambda of the same code would hold).
Targets: first sync < 60 s on a 2-core machine (10 minutes at 100,000 / 500,000), peak RSS < 256 MB,
incremental run < 5 s, time per row within 20% across the sizes. The small size is measured `--repeat` times
(default 3 with `--scale`) and the median taken: its steps last one or two seconds, and one run's noise is a
fifth of that.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
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
from zoho_emulator.control import EmulatorControl
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


def zoho_sync_run(cli: Path, **env: str) -> Run:
    """One `zoho-sync run --user-id large` process: its progress lines, wall time and peak RSS."""
    run = Run()
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(cli), "run", "--user-id", "large"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
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
    reconcile: Run
    open_invoices: int  # cached open before the reconcile: the rows its invoice walk lists
    deleted: tuple[int, int]  # customers, open invoices deleted in Zoho before it


DELETED_SHARE = 200  # 1 in 200 customers and open invoices deleted before the reconcile run
RECONCILE_DUE = {"CUSTOMER_RECONCILE_INTERVAL_DAYS": "0", "INVOICE_RECONCILE_INTERVAL_HOURS": "0"}


def delete_some(port: int) -> tuple[int, tuple[int, int]]:
    """Delete 1 in `DELETED_SHARE` cached customers and open invoices in Zoho: the open invoices cached, and
    how many of each were deleted."""
    db = connect_from_settings()
    customer_ids = [
        r[0] for r in db.run("SELECT zoho_customer_id FROM customers_cache WHERE user_id = 'large' ORDER BY 1")
    ]
    open_ids = [r[0] for r in db.run("SELECT zoho_invoice_id FROM open_invoices WHERE user_id = 'large' ORDER BY 1")]
    db.close()
    control = EmulatorControl(f"http://127.0.0.1:{port}")
    gone_invoices = [str(i) for i in open_ids[::DELETED_SHARE]]
    gone_customers = [str(c) for c in customer_ids[DELETED_SHARE // 2 :: DELETED_SHARE]]
    for invoice_id in gone_invoices:
        control.delete_invoice(ORG, invoice_id)
    for customer_id in gone_customers:
        control.delete_contact(ORG, customer_id)
    return len(open_ids), (len(gone_customers), len(gone_invoices))


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
        first, quiet = zoho_sync_run(cli), zoho_sync_run(cli)
        open_invoices, deleted = delete_some(port)
        reconcile = zoho_sync_run(cli, **RECONCILE_DUE)
        return Measured(customers, invoices, first, quiet, reconcile, open_invoices, deleted)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        server.stop()


STEPS = (("customer-sync", "fetched"), ("invoice-sync", "fetched"), ("reminders", "created"))


def total_calls(run: Run) -> int:
    return sum(counts.get("apiCalls", 0) for counts in run.counts.values())


def first_sync_rows(measured: Measured) -> list[list[str]]:
    first, rows = measured.first, []
    for step, key in STEPS:
        count = first.counts.get(step, {}).get(key, 0)
        seconds = first.seconds.get(step, 0.0)
        rate = f"{count / seconds:,.0f}/s" if seconds else ""
        calls = first.counts.get(step, {}).get("apiCalls", 0)
        rows.append([f"first sync: {step}", f"{seconds:.1f} s", f"{count:,} {key}", rate, f"{calls:,}"])
    target = "60 s" if measured.customers <= 10_000 else "10 min"
    rows.append([f"first sync: the process (target < {target})", f"{first.total_seconds:.1f} s", "", "",
                 f"{total_calls(first):,}"])  # fmt: skip
    return rows


def later_rows(measured: Measured) -> list[list[str]]:
    quiet, reconcile, rows = measured.quiet, measured.reconcile, []
    for step, _ in STEPS:
        calls = quiet.counts.get(step, {}).get("apiCalls", 0)
        rows.append([f"incremental: {step}", f"{quiet.seconds.get(step, 0.0):.2f} s", "", "", str(calls)])
    rows.append(["incremental: the process (target < 5 s)", f"{quiet.total_seconds:.2f} s", "", "",
                 str(total_calls(quiet))])  # fmt: skip
    for step, _ in STEPS:
        counts = reconcile.counts.get(step, {})
        found = (f"{counts.get('cancelled', 0):,} cancelled" if step == "reminders"
                 else f"{counts.get('softDeleted', 0) + counts.get('markedDeleted', 0):,} deleted")  # fmt: skip
        rows.append([f"reconcile: {step}", f"{reconcile.seconds.get(step, 0.0):.2f} s", found, "",
                     f"{counts.get('apiCalls', 0):,}"])  # fmt: skip
    rows.append(["reconcile: the process", f"{reconcile.total_seconds:.2f} s", "", "", f"{total_calls(reconcile):,}"])
    return rows


def report(measured: Measured) -> None:
    print(f"\n{measured.customers:,} customers, {measured.invoices:,} invoices; `zoho-sync run` processes, emulator in")
    print("its own process, no rate limit; a process's wall time includes starting Python and its imports;")
    print(f"the reconcile run follows {measured.deleted[0]:,} customers and {measured.deleted[1]:,} of "
          f"{measured.open_invoices:,} open invoices deleted in Zoho")  # fmt: skip
    print(
        render(["run", "wall time", "rows", "rows/s", "Zoho calls"], first_sync_rows(measured) + later_rows(measured))
    )
    print(
        f"peak RSS of the `zoho-sync run` process: first sync {measured.first.peak_rss_mb:.0f} MB, incremental "
        f"{measured.quiet.peak_rss_mb:.0f} MB, reconcile {measured.reconcile.peak_rss_mb:.0f} MB (target < 256 MB)"
    )


def per_row_ms(measured: Measured) -> dict[str, float]:
    """Milliseconds per row: of each step of the first sync (its rows), and of each reconcile (the customers,
    or the open invoices, that its walk lists)."""

    def per(run: Run, step: str, count: int) -> float:
        return run.seconds.get(step, 0.0) / count * 1000 if count else 0.0

    times = {f"first sync: {step} ({key})": per(measured.first, step, measured.first.counts.get(step, {}).get(key, 0))
             for step, key in STEPS}  # fmt: skip
    times["reconcile: customer-sync (customers)"] = per(measured.reconcile, "customer-sync", measured.customers)
    times["reconcile: invoice-sync (open invoices)"] = per(measured.reconcile, "invoice-sync", measured.open_invoices)
    return times


def scaling(small: list[Measured], large: Measured) -> None:
    """Time per row of each step at both sizes, side by side: linear means the same (target: within 20%).
    The small size's figure is the median of its runs."""
    small_times = [per_row_ms(measured) for measured in small]
    rows = []
    for name, large_ms in per_row_ms(large).items():
        runs = sorted(times[name] for times in small_times)
        small_ms = statistics.median(runs)
        ratio = large_ms / small_ms if small_ms else 0.0
        spread = f"{runs[0]:.3f} to {runs[-1]:.3f}" if len(runs) > 1 else ""
        rows.append([name, f"{small_ms:.3f} ms", spread, f"{large_ms:.3f} ms", f"{ratio:.2f}"])
    size, big = f"{small[0].customers:,}", f"{large.customers:,}"
    print(f"\nscaling: time per row, {size} customers (median of {len(small)} runs) and {big} (target: within 1.2)")
    print(render(["step (rows)", size, f"{size}: range", big, "ratio"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument(
        "--scale", action="store_true", help="also 10x the size, and the time per row of each step side by side"
    )
    parser.add_argument("--repeat", type=int, help="runs of the small size (default: 3 with --scale, else 1)")
    args = parser.parse_args()
    cli = Path(sys.executable).with_name("zoho-sync")
    small = []
    for _ in range(args.repeat or (3 if args.scale else 1)):
        small.append(measure(cli, args.customers, args.invoices))
        report(small[-1])
    if args.scale:
        large = measure(cli, args.customers * 10, args.invoices * 10)
        report(large)
        scaling(small, large)


if __name__ == "__main__":
    main()
