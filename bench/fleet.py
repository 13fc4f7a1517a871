"""The fleet on a bad day, through the real state machine (moto) against the emulator.

`--tenants` tenants (default 200; small organizations), 5% of them broken (every contacts list refused:
they fail), 1% slow (their calls answer after 3 s), in three hourly executions: the first syncs (every
tenant on the standard path), a quiet hour with a Zoho outage in its middle (every answer a 503 for a
while: the circuit breaker opens, the tenants still to come defer), and the hour after.

Per execution: its duration, what became of the tenants, the Zoho calls, the functions' invocations,
the Standard transitions (counted from the definition: the parent's states from moto's history, one
per child execution started, and each STANDARD child's states from its steps' invocations; EXPRESS
children are billed per request and duration, measured as TenantBatch's time), the peak of database
connections, and the log bytes a quiet tenant writes. Then the arithmetic from those figures to 1,000
and 10,000 tenants an hour (AWS list prices, us-east-1), against the goal of $0.06 and $0.05 per
tenant-month. Locally moto runs each Map's children one after another; in AWS they run
`QuietMapConcurrency` (batches) and `MapMaxConcurrency` (tenants) at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# The log lines and metric documents a tenant writes are measured (then thrown away): as in Lambda, INFO
# and metrics on. Set before the handlers are imported: their loggers read the level once.
os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO"
os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"

import bench_path  # noqa: F401 - takes bench/ off sys.path

from books_sync.db import Database
from books_sync.settings import get_settings
from zoho_sync_cli import local_state_machine as runner
from zoho_sync_cli.local_stack import LocalStack, local_stack
from zoho_sync_cli.local_state_machine import Execution, LocalStateMachine
from zoho_sync_cli.tables import render

# What a STANDARD child passes per step invocation: the Task, its round count and the Choice (sync steps),
# then Reminders and TenantDone; the child's start is one more transition (AWS bills it to the parent).
SYNC_STEP_STATES = 3
CHILD_END_STATES = 2
# AWS list prices, us-east-1 (checked as the README's cost section says).
STANDARD_TRANSITION = 0.025 / 1000
EXPRESS_REQUEST = 1.00 / 1_000_000
EXPRESS_GB_SECOND = 0.00001667
EXPRESS_MEMORY_GB = 0.0625  # billed in 64 MB steps; the child holds a few KB
LAMBDA_GB_SECOND = 0.0000133334  # arm64
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_MEMORY_GB = 0.25
LOG_INGEST_GB = 0.50
LOG_STORE_GB_MONTH = 0.03
KMS_REQUEST = 0.03 / 10_000
XRAY_TRACE = 5.00 / 1_000_000
RUNS_A_MONTH = 730
COOLDOWN_SECONDS = 3  # the breaker's, shortened: an hour passes between executions in AWS
ZOHO_SECONDS_A_CALL = 0.35  # what a Zoho answer takes from AWS (the emulator answers in milliseconds)
FIXED_A_MONTH = {  # the same whatever the fleet
    "custom metrics (~30, by step)": 9.00,
    "alarms (26 metrics alarmed) and the dashboard": 5.60,
    "KMS key": 1.00,
    "Secrets Manager (3 secrets)": 1.20,
}


@dataclass
class Run:
    name: str
    execution: Execution
    seconds: float
    zoho_calls: int
    peak_invocations: int  # Lambda invocations at once: each holds one database connection in AWS
    batch_seconds: list[float] = field(default_factory=list)
    log_bytes: int = 0


class Invocations:
    """Wraps every function's handler: how many run at once (the peak), and TenantBatch's times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = self.peak = 0
        self.batch_seconds: list[float] = []

    def install(self) -> None:
        for key, (name, handler) in list(runner.FUNCTIONS.items()):
            if key != "ReadWorkListFunctionArn":  # the runner's own reading Task: no Lambda in AWS
                runner.FUNCTIONS[key] = (name, self._wrapped(handler, key == "TenantBatchFunctionArn"))

    def _wrapped(self, handler: Callable[[Any, Any], Any], timed: bool) -> Callable[[Any, Any], Any]:
        def call(event: Any, context: Any) -> Any:
            with self._lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            started = time.monotonic()
            try:
                return handler(event, context)
            finally:
                with self._lock:
                    self.running -= 1
                    if timed:
                        self.batch_seconds.append(time.monotonic() - started)

        return call

    def reset(self) -> None:
        self.peak, self.batch_seconds = 0, []


@contextmanager
def output_counted() -> Iterator[list[int]]:
    """What the process writes to stdout and stderr meanwhile (logs, metric documents), counted, not shown."""
    counted = [0]
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield counted
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            counted[0] = os.fstat(sink.fileno()).st_size
            for descriptor in saved:
                os.close(descriptor)


def execute(machine: LocalStateMachine, stack: LocalStack, name: str, invocations: Invocations) -> Run:
    stack.control.reset_stats()
    invocations.reset()
    with output_counted() as written:
        started = time.monotonic()
        execution = machine.execute({}, timeout_seconds=3600)
        seconds = time.monotonic() - started
    calls = int(stack.control.stats()["total"])
    return Run(name, execution, seconds, calls, invocations.peak, invocations.batch_seconds, written[0])


def outage_in_the_middle(stack: LocalStack, db: Database, tenants: int, seconds: float) -> threading.Thread:
    """Once a third of the tenants have run in the coming execution, every Zoho answer is a 503 for `seconds`."""
    since = db.scalar("SELECT now()")
    ran = "SELECT count(DISTINCT user_id) FROM step_runs WHERE started_at > :since"

    def outage() -> None:
        while int(db.scalar(ran, since=since)) < tenants // 3:
            time.sleep(0.05)
        stack.control.random_faults(1.0, ["503"], seed=7)
        time.sleep(seconds)
        stack.control.random_faults(0.0, ["503"])  # the broken and slow tenants' own faults stay

    thread = threading.Thread(target=outage, daemon=True)
    thread.start()
    return thread


def standard_transitions(run: Run) -> dict[str, float]:
    """The Standard transitions of the execution, from moto's parent history and the invocations."""
    history = run.execution.history
    parent = sum(1 for e in history if e["type"].endswith("StateEntered") and not _local(e))
    calls = run.execution.invocations
    sync_calls = calls.get("zoho-sync-customer-sync", 0) + calls.get("zoho-sync-invoice-sync", 0)
    heavy_children = calls.get("zoho-sync-reminders", 0) + _failed_children(run)
    quiet_children = calls.get("zoho-sync-tenant-batch", 0)
    children = sync_calls * SYNC_STEP_STATES + heavy_children * (CHILD_END_STATES + 1)
    return {"parent": parent, "heavy": children, "quiet": quiet_children, "heavyChildren": heavy_children}


def _local(event: dict[str, Any]) -> bool:
    return str(event.get("stateEnteredEventDetails", {}).get("name", "")).startswith("Read")


def _failed_children(run: Run) -> int:
    """Children that ended in TenantFailed before Reminders (their steps' invocations are counted already)."""
    output = run.execution.output or {}
    return sum(1 for failure in output.get("failed", []) if failure.get("step") != "reminders")


def outcomes(run: Run) -> str:
    counts = (run.execution.output or {}).get("counts", {})
    shown = ("synced", "deferred", "failed", "continuing", "skipped")
    return ", ".join(f"{counts.get(key, 0)} {key}" for key in shown if counts.get(key))


def report(runs: list[Run], tenants: int) -> None:
    rows = []
    for run in runs:
        counted = standard_transitions(run)
        batch = run.execution.invocations.get("zoho-sync-tenant-batch", 0)
        rows.append([
            run.name,
            f"{run.seconds:.1f}",
            outcomes(run),
            f"{run.zoho_calls:,}",
            f"{batch} batches, {run.execution.invocations.get('zoho-sync-customer-sync', 0)} standard",
            f"{(counted['parent'] + counted['heavy'] + counted['quiet']) / tenants:.2f}",
            str(run.peak_invocations),
        ])  # fmt: skip
    print(f"{tenants} tenants (5% broken, 1% slow), the real definition in moto, the emulator over HTTP:")
    header = ["execution", "seconds", "tenants", "Zoho calls", "invocations", "std transitions / tenant",
              "peak invocations"]  # fmt: skip
    print(render(header, rows))


def per_tenant_figures(first: Run, quiet: Run, tenants: int) -> dict[str, float]:
    """What one quiet tenant-run and one first sync cost, from the measured executions."""
    quiet_counted, first_counted = standard_transitions(quiet), standard_transitions(first)
    quiet_tenants = max(1, tenants - first_counted["heavyChildren"] + quiet_counted["heavyChildren"])
    zoho_calls = quiet.zoho_calls / tenants
    local_seconds = sum(quiet.batch_seconds) / max(1, tenants)
    return {
        "quiet_transitions": quiet_counted["quiet"] / tenants,  # one per batch (the EXPRESS child's start)
        "first_sync_transitions": (first_counted["heavy"]) / max(1, first_counted["heavyChildren"]),
        "parent_transitions": quiet_counted["parent"],
        "zoho_calls": zoho_calls,
        "local_seconds": local_seconds,
        "aws_seconds": local_seconds + zoho_calls * ZOHO_SECONDS_A_CALL,
        "log_bytes": quiet.log_bytes / tenants,
        "quiet_share": quiet_tenants / tenants,
    }


def cost_per_tenant_month(figures: dict[str, float], fleet: int, batch_size: int) -> dict[str, float]:
    per_run = {
        "Step Functions Standard": (figures["quiet_transitions"] + figures["parent_transitions"] / fleet)
        * STANDARD_TRANSITION,
        "Step Functions Express": EXPRESS_REQUEST / batch_size
        + figures["aws_seconds"] * EXPRESS_MEMORY_GB * EXPRESS_GB_SECOND,
        "Lambda": figures["aws_seconds"] * LAMBDA_MEMORY_GB * LAMBDA_GB_SECOND + LAMBDA_REQUEST / batch_size,
        "CloudWatch Logs (ingest + a month stored)": figures["log_bytes"] / 1e9 * (LOG_INGEST_GB + LOG_STORE_GB_MONTH),
        "KMS (1 request)": KMS_REQUEST,
        "X-Ray (a trace per invocation, 100,000 free)": XRAY_TRACE / batch_size * max(0.0, 1 - 100_000 / (
            RUNS_A_MONTH * fleet / batch_size)),
    }  # fmt: skip
    monthly = {item: value * RUNS_A_MONTH for item, value in per_run.items()}
    monthly["the freshen (README)"] = 0.33 / 1000
    monthly |= {item: value / fleet for item, value in FIXED_A_MONTH.items()}
    return monthly


def arithmetic(figures: dict[str, float], batch_size: int, quiet_concurrency: int, heavy_concurrency: int) -> None:
    print("\nPer quiet tenant-run, measured: "
          f"{figures['zoho_calls']:.2f} Zoho calls, {figures['local_seconds']:.2f} s in TenantBatch here "
          f"(+{ZOHO_SECONDS_A_CALL} s a Zoho call in AWS: {figures['aws_seconds']:.2f} s), "
          f"{figures['log_bytes']:,.0f} log bytes, {figures['quiet_transitions']:.3f} Standard transitions "
          f"(+{figures['parent_transitions']:.0f} per execution); a first sync: "
          f"{figures['first_sync_transitions']:.1f} Standard transitions")  # fmt: skip
    rows, totals = [], {}
    for fleet in (100, 1_000, 10_000):
        monthly = cost_per_tenant_month(figures, fleet, batch_size)
        totals[fleet] = sum(monthly.values())
        for item, value in monthly.items():
            rows.append([f"{fleet:,}", item, f"${value:.5f}"])
    print(render(["tenants", "item (per tenant-month, hourly)", "cost"], rows))
    for fleet, goal in ((100, None), (1_000, 0.06), (10_000, 0.05)):
        versus = f" (goal ${goal:.2f})" if goal else ""
        a_month = totals[fleet] * fleet
        print(f"  {fleet:>6,} tenants: ${totals[fleet]:.4f} per tenant-month{versus}, ${a_month:,.0f} a month")
    batches = 10_000 / batch_size
    minutes = batches / quiet_concurrency * batch_size * figures["aws_seconds"] / 60
    connections = quiet_concurrency + 3 * heavy_concurrency + 2 + 1
    print(f"\n10,000 quiet tenants: {batches:.0f} batches of {batch_size}, {quiet_concurrency} at once, "
          f"{batch_size * figures['aws_seconds']:.0f} s each: about {minutes:.0f} minutes of the hour; database "
          f"connections at most {quiet_concurrency} (batches) + 3 x {heavy_concurrency} (standard path) + 2 "
          f"(ListTenants/RestTenants, Summarize) + 1 (the freshen) = {connections}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--outage-seconds", type=float, default=3.0)
    args = parser.parse_args()
    with local_stack() as stack:
        os.environ.update({
            "ZOHO_RATE_LIMIT_CALLS": "1000000", "ZOHO_BACKOFF_BASE_SECONDS": "0.05", "ZOHO_BACKOFF_MAX_SECONDS": "0.2",
            "ZOHO_MAX_RETRIES": "2", "ZOHO_CONNECT_TIMEOUT_SECONDS": "1", "ZOHO_READ_TIMEOUT_SECONDS": "5",
            "SYNC_TIME_SAFETY_MARGIN_SECONDS": "20", "BREAKER_COOLDOWN_SECONDS": str(COOLDOWN_SECONDS),
        })  # fmt: skip
        get_settings.cache_clear()
        db = stack.connect()
        broken, slow = add_fleet(stack, db, args.tenants)
        settings = get_settings()
        invocations = Invocations()
        invocations.install()
        with LocalStateMachine(timeout_seconds=280).running() as machine:
            runs = [execute(machine, stack, "1: first syncs", invocations)]
            stack.control.configure(hang_seconds=3.0)
            for org in slow:
                stack.control.inject("*", "hang", count=1000, organization_id=org)
            runs.append(execute(machine, stack, "2: quiet", invocations))
            outage = outage_in_the_middle(stack, db, args.tenants - len(broken), args.outage_seconds)
            runs.append(execute(machine, stack, "3: quiet, Zoho down a while", invocations))
            outage.join(timeout=60)
            time.sleep(COOLDOWN_SECONDS + 1)  # the next hour: the breaker's cooldown long over
            runs.append(execute(machine, stack, "4: the hour after", invocations))
        db.close()
    report(runs, args.tenants)
    figures = per_tenant_figures(runs[0], runs[1], args.tenants)
    arithmetic(figures, settings.quiet_batch_size, settings.quiet_map_concurrency, settings.map_max_concurrency)
    return 0


def add_fleet(stack: LocalStack, db: Database, tenants: int) -> tuple[list[str], list[str]]:
    """The tenants, and which organizations are broken (5%) and slow (1%)."""
    broken, slow = [], []
    for number in range(tenants):
        organization = f"org-fleet-{number:05d}"
        stack.add_tenant(db, f"fleet-{number:05d}", organization, customers=5, invoices=10, seed=number)
        if number % 20 == 7:
            broken.append(organization)
        elif number % 100 == 50:
            slow.append(organization)
    for organization in broken:
        stack.control.inject("contacts.list", "invalid_id", count=1000, organization_id=organization)
    return broken, slow


if __name__ == "__main__":
    sys.exit(main())
