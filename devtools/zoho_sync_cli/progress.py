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
_SUMMARY_KEYS_WHEN_ANY = ("softDeleted", "markedDeleted")  # a reconcile's finds
QUIET_SECONDS = 10.0  # without a terminal, a line at least this often while a step works


class StepProgress:
    """Use as a context manager around the runs; `step_done(user_id)` is the pipeline's per-call hook."""

    def __init__(self, tenants: int = 1) -> None:
        self._tenants, self._tenant = tenants, 0  # the tenant being run: n of `tenants`
        self._details_from: tuple[float, int] | None = None  # when this step call's details began, and how many
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
        who = f"{self._user} ({self._tenant} of {self._tenants})" if self._tenants > 1 else self._user
        if what == "details":
            text = f"{who} {step}: {self._details_text(counts)}, {counts.get('calls', 0)} calls"
        else:  # Zoho's lists say whether more follows, never how much: no total to show
            text = f"{who} {step}: page {counts.get('page', 0)} (Zoho gives no total), {counts.get('calls', 0)} calls"
        self._doing = f"{text} ({rate:.0f} calls/min)"
        if self._live:
            self._progress.update(self._task, description=self._doing)

    def _details_text(self, counts: Mapping[str, int]) -> str:
        """`120 of 450 details, about 3 min left` (the rate since this call's details began)."""
        fetched, total, now = counts.get("fetched", 0), counts.get("total", 0), time.monotonic()
        if self._details_from is None:
            self._details_from = (now, 0)
        began, first = self._details_from
        if not total:
            return f"{fetched} details"
        per_second = (fetched - first) / (now - began) if now > began and fetched > first else 0.0
        left = f", about {remaining((total - fetched) / per_second)} left" if per_second and total > fetched else ""
        return f"{fetched} of {total} details{left}"

    def step_done(self, user_id: str) -> Callable[[str, dict[str, Any]], None]:
        """One line per step call: status, counts and wall time (bench/large_tenant.py reads these)."""
        self._tenant += 1
        self._user, self._started, self._details_from = user_id, time.monotonic(), None
        self._doing = f"{user_id}: starting"
        last = time.perf_counter()

        def show(step: str, summary: dict[str, Any]) -> None:
            nonlocal last
            now = time.perf_counter()
            shown = [key for key in _SUMMARY_KEYS if key in summary]
            shown += [key for key in _SUMMARY_KEYS_WHEN_ANY if summary.get(key)]
            counts = ", ".join(f"{key} {summary[key]}" for key in shown)
            waiting = f", {summary['detailsWaiting']} details still to read" if summary.get("detailsWaiting") else ""
            more = " (more to do)" if summary.get("hasMore") else ""
            line = f"  {user_id} {step}: {summary.get('status')}, {counts}{waiting} in {now - last:.2f} s{more}"
            if self._live:
                self._progress.console.print(line, markup=False, highlight=False)
            else:
                self._say(line)
            self._doing = f"{user_id}: after {step}"
            self._started, self._details_from = time.monotonic(), None  # the next step call's own rate
            last = now

        return show


def remaining(seconds: float) -> str:
    """A time left as a person says it: `40 s`, `3 min`, `2 h 10 min`."""
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
