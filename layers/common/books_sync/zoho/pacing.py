"""Keeps calls to one Zoho organization under its rate limit instead of running into 429s.

A sliding window of K calls per W seconds, counted from when each call *completed*: the server
saw the request no later than that, so a new call sent W seconds after an old one completed
can never share a server-side window with it. One pacer per organization per process.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowPacer:
    def __init__(self, calls: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if calls <= 0 or window_seconds <= 0:
            raise ValueError("calls and window_seconds must be positive")
        self.calls = calls
        self.window = window_seconds
        self._clock = clock
        self._completed: deque[float] = deque()
        self._in_flight = 0
        self._cond = threading.Condition()
        self.waited_seconds = 0.0

    def acquire(self) -> None:
        """Block until one more call fits in the window."""
        with self._cond:
            while True:
                now = self._clock()
                while self._completed and self._completed[0] <= now - self.window:
                    self._completed.popleft()
                if len(self._completed) + self._in_flight < self.calls:
                    self._in_flight += 1
                    return
                timeout = self._completed[0] + self.window - now if self._completed else None
                started = time.monotonic()
                self._cond.wait(timeout)
                self.waited_seconds += time.monotonic() - started

    def release(self) -> None:
        """The call has completed (whatever its outcome)."""
        with self._cond:
            self._in_flight -= 1
            self._completed.append(self._clock())
            self._cond.notify_all()


_pacers: dict[tuple[str, int, float], SlidingWindowPacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(organization_id: str, calls: int, window_seconds: float) -> SlidingWindowPacer:
    """The process-wide pacer of an organization (shared by every client of that org)."""
    key = (organization_id, calls, window_seconds)
    with _pacers_lock:
        pacer = _pacers.get(key)
        if pacer is None:
            pacer = _pacers[key] = SlidingWindowPacer(calls, window_seconds)
        return pacer
