"""The three steps in process, in the state machine's order, without Step Functions (`zoho-sync run`).

Each step is called through its real Lambda handler with a Lambda-like context, and a sync step
that answers `hasMore` is called again, exactly as the state machine's Choice loop does.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from books_sync.db import close_database, get_database
from books_sync.errors import DatabaseError, DatabaseUnavailable, calls_made
from books_sync.storage import leases
from customer_sync.handler import lambda_handler as customer_sync_handler
from invoice_sync.handler import lambda_handler as invoice_sync_handler
from reminders.handler import lambda_handler as reminders_handler
from zoho_sync_cli.lambda_context import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
STEPS: tuple[tuple[str, Handler], ...] = (
    ("customer-sync", customer_sync_handler),
    ("invoice-sync", invoice_sync_handler),
    ("reminders", reminders_handler),
)
MAX_CALLS_PER_STEP = 10_000
RUN_HOLDER = "zoho-sync-run"  # the lease holder's prefix for runs of this command
INSTANCE = uuid.uuid4().hex  # this process, in every lease it takes: random, so no two processes share one
HEARTBEAT_SECONDS = 10.0  # how often a run says it is alive (run_heartbeats, migration 0019)
SILENT_SECONDS = 60.0  # a run silent this long was killed: another run, anywhere, frees its leases


@dataclass
class TenantRun:
    user_id: str
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # step → last summary
    calls: dict[str, int] = field(default_factory=dict)  # step → invocations (hasMore loops)
    api_calls: int = 0
    error: str | None = None
    error_type: str | None = None  # the exception's class name, as the state machine sees it

    @property
    def status(self) -> str:
        if self.error:
            return "failed"
        statuses = {summary.get("status", "ok") for summary in self.steps.values()}
        return next((s for s in ("deferred", "skipped") if s in statuses), "ok")


def run_tenant(
    user_id: str,
    *,
    full_resync: bool = False,
    timeout_seconds: float = 900.0,
    progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> TenantRun:
    """Run customer sync → invoice sync → reminders for one tenant; a failed step stops the tenant.

    The run holds the tenant's lease like an execution does, with this process's random instance id in
    the holder, and beats while it runs; a later run, wherever it runs, frees the lease of one silent for
    `SILENT_SECONDS` (killed). It gives the lease back at the end.
    """
    result = TenantRun(user_id)
    holder = f"{RUN_HOLDER}:{INSTANCE}:{uuid.uuid4().hex[:8]}"
    with heartbeat():
        free_if_abandoned(user_id)
        _run_steps(user_id, holder, result, full_resync=full_resync, timeout_seconds=timeout_seconds, progress=progress)
    return result


def _run_steps(
    user_id: str,
    holder: str,
    result: TenantRun,
    *,
    full_resync: bool,
    timeout_seconds: float,
    progress: Callable[[str, dict[str, Any]], None] | None,
) -> None:
    try:
        for step, handler in STEPS:
            event: dict[str, Any] = {"userId": user_id, "fullResync": full_resync, "executionId": holder}
            try:
                _loop_step(step, handler, event, result, timeout_seconds=timeout_seconds, progress=progress)
            except Exception as exc:  # noqa: BLE001 - reported per tenant, like the state machine's Catch
                result.api_calls += calls_made(exc)
                result.error = f"{step}: {type(exc).__name__}: {exc}"
                result.error_type = type(exc).__name__
                break
    finally:
        _best_effort(lambda: leases.give_back(get_database(), user_id, holder))


def free_if_abandoned(user_id: str) -> None:
    """A `zoho-sync run` that was killed leaves the tenant's lease: give it back at once when its process is
    gone from this PID namespace (the same machine, the same container), else once it has been silent for
    `SILENT_SECONDS` (wherever it ran). A process in another namespace is never judged by its PID here."""
    db = get_database()
    lease = leases.current(db, user_id)
    if lease is None or not lease.holder.startswith(f"{RUN_HOLDER}:"):
        return
    beat = leases.heartbeat(db, lease.holder.split(":")[1])
    here = this_process()
    gone_from_here = (
        beat is not None and beat.process is not None and beat.process.pid_namespace == here.pid_namespace
        and not _process_alive(beat.process.pid)
    )  # fmt: skip
    silent = beat is None or beat.seconds_ago > SILENT_SECONDS
    if gone_from_here or (silent and (datetime.now(UTC) - lease.acquired_at).total_seconds() > SILENT_SECONDS):
        leases.give_back(db, user_id, lease.holder)


def this_process() -> leases.Process:
    """This process's PID namespace (Linux: the boot's id and the namespace's inode; elsewhere, where there
    are no PID namespaces, the host) and PID."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = f"{boot}:{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        namespace = f"host:{socket.gethostname()}"
    return leases.Process(namespace, os.getpid())


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


@contextmanager
def heartbeat() -> Iterator[None]:
    """This process beats every `HEARTBEAT_SECONDS` for the block, from a thread with its own connection."""
    leases.beat(get_database(), INSTANCE, this_process())  # before any lease is taken
    stop = threading.Event()
    thread = threading.Thread(target=_beat_until, args=(stop,), name="zoho-sync-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        _best_effort(lambda: leases.stop_beating(get_database(), INSTANCE))


def _best_effort(cleanup: Callable[[], None]) -> None:
    """A cleanup that must not hide why the run ended (an interruption may leave the connection mid-statement:
    the lease then waits for the next run, which frees it at once, this process being gone)."""
    try:
        cleanup()
    except (DatabaseError, DatabaseUnavailable):
        close_database()


def _beat_until(stop: threading.Event) -> None:
    try:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                leases.beat(get_database(), INSTANCE, this_process())
            except Exception:  # noqa: BLE001 - a missed beat only makes the lease look older; the next one counts
                close_database()
    finally:
        close_database()


def _loop_step(
    step: str,
    handler: Handler,
    event: dict[str, Any],
    result: TenantRun,
    *,
    timeout_seconds: float,
    progress: Callable[[str, dict[str, Any]], None] | None,
) -> None:
    """Call the step while it answers hasMore, as the state machine's Choice loop does."""
    while True:
        summary = dict(handler(event, LocalLambdaContext(step, timeout_seconds=timeout_seconds)))
        result.calls[step] = result.calls.get(step, 0) + 1
        result.api_calls += int(summary.get("apiCalls", 0))
        result.steps[step] = _accumulate(result.steps.get(step), summary)
        if progress is not None:
            progress(step, summary)
        if not summary.get("hasMore"):
            return
        if result.calls[step] >= MAX_CALLS_PER_STEP:
            raise RuntimeError(f"{step}: still hasMore after {MAX_CALLS_PER_STEP} calls")


def _accumulate(previous: dict[str, Any] | None, summary: dict[str, Any]) -> dict[str, Any]:
    """Counts add up over a hasMore loop; everything else is the last call's."""
    if previous is None:
        return summary
    merged = dict(summary)
    for key, value in summary.items():
        if isinstance(value, int) and not isinstance(value, bool) and isinstance(previous.get(key), int):
            merged[key] = previous[key] + value
    return merged
