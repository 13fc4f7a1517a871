"""When each reminder of an invoice is due: pure rules, easy to test.

One reminder per offset (days from the basis date, negative = before) at `local_hour` in the
customer's timezone, falling back to the organization's and then UTC when a timezone is missing
or unknown. The basis is the due date, or (a tenant's choice, as Zoho offers) the date the
customer promised to pay where it has one. While an invoice stays overdue, reminders may repeat
every N days after the last offset, at most M times (Zoho allows 30 reminders an invoice). A send
time missed by less than the grace period is still sent (due now); an older one is marked past,
so the caller neither creates it nor cancels a pending one the sender may be about to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Basis = Literal["due_date", "expected_payment_date"]
MAX_PER_INVOICE = 30


@dataclass(frozen=True)
class ReminderPolicy:
    """A tenant's reminder settings (`sync_metadata.reminder_*`)."""

    offsets_days: tuple[int, ...] = (-3, 0, 7)
    local_hour: int = 9
    basis: Basis = "due_date"
    grace: timedelta = timedelta(hours=12)
    repeat_every_days: int | None = None
    repeat_max: int = 0
    max_attempts: int = 3  # a sender's tries before a reminder is `failed`

    def all_offsets(self) -> tuple[int, ...]:
        """The configured offsets, then the repeats after the last one."""
        offsets = sorted(set(self.offsets_days))
        if self.repeat_every_days and self.repeat_max and offsets:
            last = offsets[-1]
            offsets += [last + self.repeat_every_days * k for k in range(1, self.repeat_max + 1)]
        return tuple(offsets[:MAX_PER_INVOICE])

    def basis_date(self, due_date: date | None, expected: date | None) -> date | None:
        if self.basis == "expected_payment_date" and expected is not None:
            return expected
        return due_date


@dataclass(frozen=True)
class PlannedReminder:
    offset_days: int
    scheduled_for: datetime  # UTC
    past: bool  # missed by more than the grace period: not created


def zone(*names: str | None) -> tzinfo:
    """The first usable IANA zone among `names`, else UTC."""
    for name in names:
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return UTC


def plan(basis: date, policy: ReminderPolicy, tz: tzinfo, now: datetime) -> list[PlannedReminder]:
    """The reminders of one invoice, in offset order (an offset beyond the calendar is left out)."""
    planned = []
    for offset in policy.all_offsets():
        try:
            day = basis + timedelta(days=offset)
        except OverflowError:
            continue
        moment = datetime.combine(day, time(policy.local_hour), tzinfo=tz).astimezone(UTC)
        planned.append(PlannedReminder(offset, moment, moment <= now - policy.grace))
    return planned
