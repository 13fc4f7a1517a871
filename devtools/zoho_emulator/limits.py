"""Zoho's limits: calls per minute, calls per day, calls in process, and refreshes per token.

A call passes them in Zoho's order (concurrency, per-minute, daily); a call turned away by one
does not count against the next.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from zoho_emulator.profiles import RULES
from zoho_emulator.settings import Settings, WindowLimit
from zoho_emulator.store import OrgOptions
from zoho_emulator.wire import ApiError

PLAN_DEFAULT_DAILY_LIMIT = 10_000  # what the headers report when no daily limit is enforced


class SlidingWindow:
    """At most `limit.calls` arrivals per key within any `limit.window_seconds` (real time).

    Used for an organization's API calls and for a refresh token's refreshes. Arrivals are only
    recorded while a limit is set, so switching a limit on starts from a clean slate.
    """

    def __init__(self) -> None:
        self.arrivals: dict[str, deque[float]] = {}

    def admit(self, key: str, limit: WindowLimit | None) -> bool:
        if limit is None:
            return True
        arrivals = self.arrivals.setdefault(key, deque())
        moment = time.monotonic()
        while arrivals and arrivals[0] <= moment - limit.window_seconds:
            arrivals.popleft()
        if len(arrivals) >= limit.calls:
            return False
        arrivals.append(moment)
        return True

    def clear(self) -> None:
        self.arrivals.clear()


@dataclass(frozen=True)
class QuotaState:
    """An organization's daily quota as the X-Rate-Limit-* headers report it."""

    limit: int
    used: int
    enforced: bool  # False: no daily limit set, `limit` is the plan default shown in headers
    reset_seconds: int  # until the next UTC midnight of the emulator's clock

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(self.reset_seconds),
        }

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "reset_seconds": self.reset_seconds,
            "enforced": self.enforced,
        }


def seconds_to_midnight(now: datetime) -> int:
    """Seconds until the next UTC midnight, when Zoho's daily quota starts again."""
    utc = now.astimezone(UTC)
    midnight = datetime.combine(utc.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return math.ceil((midnight - utc).total_seconds())


class Limits:
    """Every per-organization gate, reading its numbers from the shared Settings at call time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.per_minute = SlidingWindow()
        self.daily_calls: Counter[tuple[str, date]] = Counter()  # every admitted or spent call, per UTC day
        self.in_flight: Counter[str] = Counter()

    def daily_limit(self, options: OrgOptions) -> int | None:
        return options.daily_limit if options.daily_limit is not None else self.settings.daily_limit

    def headers_on(self, options: OrgOptions) -> bool:
        """Per organization, else emulator-wide, else as the organization's profile has it."""
        for choice in (options.rate_limit_headers, self.settings.rate_limit_headers):
            if choice is not None:
                return choice
        return RULES[options.profile].rate_limit_headers

    def quota(self, organization_id: str, options: OrgOptions, now: datetime) -> QuotaState:
        limit = self.daily_limit(options)
        return QuotaState(
            limit=limit if limit is not None else PLAN_DEFAULT_DAILY_LIMIT,
            used=self.daily_calls[(organization_id, now.date())],
            enforced=limit is not None,
            reset_seconds=seconds_to_midnight(now),
        )

    def spend(self, organization_id: str, calls: int, now: datetime) -> None:
        """Calls made by another app on the same organization: they share its daily quota."""
        if calls < 0:
            raise ValueError(f"calls must be >= 0, got {calls}")
        self.daily_calls[(organization_id, now.date())] += calls

    def admit(self, organization_id: str, options: OrgOptions, now: datetime) -> None:
        """Let one API call in, or raise Zoho's 429 (1070 concurrency, 44 per minute, 45 daily)."""
        max_concurrent = self.settings.max_concurrent
        if max_concurrent is not None and self.in_flight[organization_id] >= max_concurrent:
            raise ApiError(429, 1070, "You have reached the maximum number of in process requests allowed.")
        if not self.per_minute.admit(organization_id, self.settings.rate_limit):
            raise ApiError(
                429,
                44,
                "For security reasons your organization has been blocked as it have exceeded the maximum number "
                "of requests per minute.",
            )
        quota = self.quota(organization_id, options, now)
        if quota.enforced and quota.remaining <= 0:
            message = f"The API call for this organization has exceeded the maximum call rate limit of {quota.limit}."
            raise ApiError(429, 45, message)
        self.daily_calls[(organization_id, now.date())] += 1
        self.in_flight[organization_id] += 1

    def release(self, organization_id: str) -> None:
        self.in_flight[organization_id] -= 1
