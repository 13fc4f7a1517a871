"""How long a step may keep working before it must save its place and return `hasMore`.

A Lambda call lasts at most 15 minutes; a first sync of a big tenant at 100 calls a minute can
take hours. The step frame calls `check()` before each Zoho call: it raises `OutOfTime`, and the
frame commits what is done and answers `hasMore`. It never stops before some progress was made
in this invocation, so a `hasMore` loop always moves forward.
"""

from __future__ import annotations

from typing import Protocol

from books_sync.errors import OutOfTime

CALL_RESERVE_SECONDS = 10.0  # kept back from a Zoho call's deadline: the step commits and answers in it


class RemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class TimeBudget:
    def __init__(self, context: RemainingTime | None, safety_margin_seconds: float) -> None:
        self._context = context
        self._margin_ms = safety_margin_seconds * 1000
        self.progressed = False
        self.exhausted = False

    def should_stop(self) -> bool:
        if not self.progressed or self._context is None:
            return False
        if self._context.get_remaining_time_in_millis() <= self._margin_ms:  # margin 0: work to the end
            self.exhausted = True
        return self.exhausted

    def seconds_left(self) -> float | None:
        """How long a call may still take: the Lambda's time left, less `CALL_RESERVE_SECONDS` to commit
        what is done. None (no limit) before any progress (a call always moves forward), without a Lambda
        deadline, or with a margin of 0 (work to the end)."""
        if not self.progressed or self._context is None or self._margin_ms == 0:
            return None
        return self._context.get_remaining_time_in_millis() / 1000 - CALL_RESERVE_SECONDS

    def record_progress(self) -> None:
        self.progressed = True

    def check(self) -> None:
        """Raise `OutOfTime` when the step must stop now."""
        if self.should_stop():
            raise OutOfTime("the Lambda's time budget is spent")
