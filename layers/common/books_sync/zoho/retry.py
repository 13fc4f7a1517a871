"""Bounded retries with exponential backoff and jitter, for API calls and token refreshes alike.

An attempt answers either its result or `TryAgain` (why); after the last attempt the caller turns
the last `TryAgain` into its own typed error. Waits happen only between attempts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from books_sync.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class TryAgain:
    """A transient failure worth another attempt."""

    problem: str  # for the final error message, e.g. "HTTP 503" or "ReadTimeout"
    rate_limited: bool = False


def backoff_seconds(attempt: int, base: float, cap: float, rng: Callable[[], float]) -> float:
    """Exponential backoff with jitter: half fixed, half random, so retries spread out but do wait."""
    ceiling = min(cap, base * 2.0**attempt)
    return ceiling / 2 + rng() * ceiling / 2


@dataclass
class Retrying:
    """How often and how patiently to try; counts the retries it made (`retries`)."""

    max_retries: int
    base_seconds: float
    max_seconds: float
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = field(default_factory=lambda: random.Random().random)  # noqa: S311 - jitter
    retries: int = 0

    @classmethod
    def from_settings(cls, settings: Settings, sleep: Callable[[float], None] = time.sleep) -> Retrying:
        return cls(
            settings.zoho_max_retries, settings.zoho_backoff_base_seconds, settings.zoho_backoff_max_seconds, sleep
        )

    @property
    def attempts(self) -> int:
        return self.max_retries + 1

    def run(self, attempt: Callable[[], T | TryAgain]) -> T | TryAgain:
        """`attempt()` until it answers something other than `TryAgain`, at most `attempts` times."""
        outcome = attempt()
        for retry in range(self.max_retries):
            if not isinstance(outcome, TryAgain):
                return outcome
            self.retries += 1
            self.sleep(backoff_seconds(retry, self.base_seconds, self.max_seconds, self.rng))
            outcome = attempt()
        return outcome
