"""Progress of `zoho-sync run` on stderr: a live display on a terminal, plain lines otherwise.

The steps report each committed page and each batch of details (`books_sync.observability`); a
first sync at 100 calls a minute lasts minutes to hours, and Zoho's lists give no totals, so the
display shows what is done and its rate, and for the details the queue that is left.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from books_sync.observability import listen_to_progress
from zoho_sync_cli.console import note

_SUMMARY_KEYS = ("fetched", "inserted", "updated", "detailsFetched", "created", "cancelled", "apiCalls")
QUIET_SECONDS = 10.0  # without a terminal, a line at least this often while a step works


class StepProgress:
    """Use as a context manager around the runs; `step_done(user_id)` is the pipeline's per-call hook."""

    def __init__(self) -> None:
        self._live = sys.stderr.isatty()
        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(stderr=True)
        )
        self._task: Any = None
        self._user = ""
        self._started = time.monotonic()
        self._said_at = time.monotonic()  # the last line printed (without a terminal)
        self._doing = "starting"
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="zoho-sync-progress", daemon=True)

    def __enter__(self) -> StepProgress:
        if self._live:
            self._progress.start()
            self._task = self._progress.add_task("starting", total=None)
        else:
            self._ticker.start()
        listen_to_progress(self._on_progress)
        return self

    def _tick(self) -> None:
        """Without a terminal (a log file, a CI job): a line at least every `QUIET_SECONDS`, even while one Zoho
        call or the pace makes a step wait, so nobody wonders whether it still works."""
        while not self._stop.wait(1.0):
            if time.monotonic() - self._said_at >= QUIET_SECONDS:
                self._say(f"  {self._doing}, still working ({time.monotonic() - self._started:.0f} s so far)")

    def _say(self, line: str) -> None:
        self._said_at = time.monotonic()
        note(line)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        listen_to_progress(None)
        self._stop.set()
        if self._live:
            self._progress.stop()
        if kind is KeyboardInterrupt:
            note(
                "interrupted: every page and detail committed so far is saved with its checkpoint; the next "
                "`zoho-sync run` resumes where this one stopped (a page in progress is read again)"
            )

    def _on_progress(self, step: str, what: str, counts: Mapping[str, int]) -> None:
        rate = counts.get("calls", 0) / max(time.monotonic() - self._started, 0.001) * 60
        if what == "details":
            text = f"{self._user} {step}: {counts.get('fetched', 0)} details, {counts.get('calls', 0)} calls"
        else:
            text = f"{self._user} {step}: page {counts.get('page', 0)}, {counts.get('calls', 0)} calls"
        self._doing = f"{text} ({rate:.0f} calls/min)"
        if self._live:
            self._progress.update(self._task, description=self._doing)

    def step_done(self, user_id: str) -> Callable[[str, dict[str, Any]], None]:
        """One line per step call: status, counts and wall time (bench/large_tenant.py reads these)."""
        self._user, self._started = user_id, time.monotonic()
        self._doing = f"{user_id}: starting"
        last = time.perf_counter()

        def show(step: str, summary: dict[str, Any]) -> None:
            nonlocal last
            now = time.perf_counter()
            counts = ", ".join(f"{key} {summary[key]}" for key in _SUMMARY_KEYS if key in summary)
            waiting = f", {summary['detailsWaiting']} details still to read" if summary.get("detailsWaiting") else ""
            more = " (more to do)" if summary.get("hasMore") else ""
            line = f"  {user_id} {step}: {summary.get('status')}, {counts}{waiting} in {now - last:.2f} s{more}"
            if self._live:
                self._progress.console.print(line, markup=False, highlight=False)
            else:
                self._say(line)
            self._doing = f"{user_id}: after {step}"
            last = now

        return show
