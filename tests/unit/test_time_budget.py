from __future__ import annotations

import pytest

from books_sync.sync.time_budget import TimeBudget


class Clock:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_never_stops_before_some_progress() -> None:
    budget = TimeBudget(Clock(0), safety_margin_seconds=60)
    assert budget.should_stop() is False
    budget.record_progress()
    assert budget.should_stop() is True
    assert budget.exhausted


@pytest.mark.parametrize(
    ("remaining_ms", "margin_seconds", "stops"),
    [(90_001, 90, False), (90_000, 90, True), (1, 0, False), (0, 0, True)],  # margin 0: work to the very end
)
def test_stops_when_the_remaining_time_reaches_the_margin(
    remaining_ms: int, margin_seconds: float, stops: bool
) -> None:
    budget = TimeBudget(Clock(remaining_ms), safety_margin_seconds=margin_seconds)
    budget.record_progress()
    assert budget.should_stop() is stops


def test_without_a_context_there_is_no_limit() -> None:
    budget = TimeBudget(None, safety_margin_seconds=90)
    budget.record_progress()
    assert budget.should_stop() is False
