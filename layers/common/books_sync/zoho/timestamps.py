"""Zoho's timestamp format: `yyyy-MM-ddTHH:mm:ss+hhmm`, in the organization's offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

FUTURE_SKEW = timedelta(minutes=10)  # clocks differ: a time this far ahead of ours is still believed


def format_zoho_time(moment: datetime) -> str:
    """UTC, whole seconds, `+0000`: the form Zoho accepts for `last_modified_time` filters."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_zoho_time(raw: object) -> datetime:
    """Parse `2025-03-01T10:15:00+0530` (also `+05:30` and `Z`) into an aware datetime."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"not a Zoho timestamp: {raw!r}")
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+0000"
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        raise ValueError(f"not a Zoho timestamp: {raw[:40]!r}") from None


def plausible(moment: datetime, now: datetime) -> datetime | None:
    """A modification time no later than now (plus `FUTURE_SKEW`); a later one is unknown: None.

    A row stamped in 2099 would otherwise outrank every true copy ("an older copy never overwrites a
    newer one") and carry a cursor past everything.
    """
    return moment if moment <= now + FUTURE_SKEW else None
