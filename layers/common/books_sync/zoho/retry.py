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

from books_sync.errors import OutOfTime
from books_sync.settings import Settings

T = TypeVar("T")
RETRY_NEEDS_SECONDS = 3.0  # another attempt needs at least this much time after its wait


@dataclass(frozen=True)
class TryAgain:
    """A transient failure worth another attempt."""

    problem: str  # for the final error message, e.g. "HTTP 503" or "ReadTimeout"
    rate_limited: bool = False
    unavailable: bool = False  # 5xx, a timeout, no connection: Zoho itself is failing (the breaker counts it)
    last: bool = False  # no point trying again (a refused connection: nothing listens at that address)


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
    deadline: Callable[[], float | None] = lambda: None  # seconds left for calls (None: no limit)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        sleep: Callable[[float], None] = time.sleep,
        deadline: Callable[[], float | None] = lambda: None,
    ) -> Retrying:
        return cls(
            settings.zoho_max_retries,
            settings.zoho_backoff_base_seconds,
            settings.zoho_backoff_max_seconds,
            sleep,
            deadline=deadline,
        )

    @property
    def attempts(self) -> int:
        return self.max_retries + 1

    def run(self, attempt: Callable[[], T | TryAgain]) -> T | TryAgain:
        """`attempt()` until it answers something other than `TryAgain`, at most `attempts` times."""
        outcome = attempt()
        for retry in range(self.max_retries):
            if not isinstance(outcome, TryAgain) or outcome.last:
                return outcome
            self.retries += 1
            wait = backoff_seconds(retry, self.base_seconds, self.max_seconds, self.rng)
            left = self.deadline()
            if left is not None and left < wait + RETRY_NEEDS_SECONDS:
                raise OutOfTime(f"no time left to try again ({outcome.problem})")
            self.sleep(wait)
            outcome = attempt()
        return outcome
