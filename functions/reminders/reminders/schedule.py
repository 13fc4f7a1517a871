"""When each reminder of an invoice is due: a pure rule, easy to test.

One reminder per offset (days from the due date, negative = before) at `local_hour` in the
customer's timezone, falling back to the organization's and then UTC when a timezone is missing
or unknown. Offsets whose moment has passed are marked, so the caller neither creates them nor
cancels a pending one the sender may be about to send.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class PlannedReminder:
    offset_days: int
    scheduled_for: datetime  # UTC
    past: bool


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


def plan(
    due_date: date, offsets_days: Iterable[int], local_hour: int, tz: tzinfo, now: datetime
) -> list[PlannedReminder]:
    """The reminders of one invoice, in offset order."""
    planned = []
    for offset in sorted(set(offsets_days)):
        local = datetime.combine(due_date + timedelta(days=offset), time(local_hour), tzinfo=tz)
        moment = local.astimezone(UTC)
        planned.append(PlannedReminder(offset, moment, moment <= now))
    return planned
