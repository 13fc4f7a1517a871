"""The emulator's knobs, validated in one place so a bad control request changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zoho_emulator.profiles import Profile, parse_profile
from zoho_emulator.webhooks import parse_webhook


@dataclass(frozen=True)
class WindowLimit:
    """At most `calls` within any `window_seconds`."""

    calls: int
    window_seconds: float


def _count(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"expected a count >= 0, got {value!r}")
    return number


def _seconds(value: Any) -> float:
    number = float(value or 0)
    if number < 0:
        raise ValueError(f"expected seconds >= 0, got {value!r}")
    return number


def _optional_limit(value: Any) -> int | None:
    """A positive limit, or None (no limit) for null/0, as the control API has always read them."""
    if not value:
        return None
    return _count(value) or None


def _optional_bool(value: Any) -> bool | None:
    """True/False, or None for "not set here" (a wider default applies)."""
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"expected true, false or null, got {value!r}")


def _window_limit(value: Any) -> WindowLimit | None:
    """{"calls": K, "window_seconds": W} or null (no limit)."""
    if not value:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"expected {{calls, window_seconds}} or null, got {value!r}")
    return WindowLimit(_count(value["calls"]), _seconds(value["window_seconds"]))  # 0 calls: every call refused


@dataclass
class Settings:
    """Emulator-wide settings; an organization's own options (store.OrgOptions) win over these."""

    token_ttl_seconds: int = 3600
    hang_seconds: float = 3.0  # how long a "hang" fault withholds its answer
    latency_seconds: float = 0.0  # added to every API answer, to make a run last
    refresh_limit: WindowLimit | None = WindowLimit(10, 600.0)  # refreshes per refresh token
    daily_limit: int | None = None  # API calls per organization per UTC day
    max_concurrent: int | None = None  # calls in process per organization
    profile: Profile = "observed"  # for organizations added from now on
    rate_limit_headers: bool | None = None  # None: as the organization's profile has it
    rate_limit: WindowLimit | None = None  # API calls per organization (set_rate_limit)

    def configure(self, **raw: Any) -> None:
        """Validate every value first, then apply them all."""
        for name, value in parse_fields(raw, _PARSERS, "settings").items():
            setattr(self, name, value)


def parse_fields(raw: Mapping[str, Any], parsers: Mapping[str, Callable[[Any], Any]], what: str) -> dict[str, Any]:
    """Every value parsed by its field's parser; an unknown field is an error, not silently dropped."""
    unknown = sorted(set(raw) - set(parsers))
    if unknown:
        raise ValueError(f"unknown {what} {', '.join(unknown)}; known: {', '.join(parsers)}")
    return {name: parsers[name](value) for name, value in raw.items()}


_PARSERS: Mapping[str, Callable[[Any], Any]] = {
    "token_ttl_seconds": _count,
    "hang_seconds": _seconds,
    "latency_seconds": _seconds,
    "refresh_limit": _window_limit,
    "daily_limit": _optional_limit,
    "max_concurrent": _optional_limit,
    "profile": parse_profile,
    "rate_limit_headers": _optional_bool,
}


def _header_values(value: Any) -> dict[str, str] | None:
    """X-Rate-Limit-* values to send instead of the true ones (a lying proxy or Zoho): {"X-Rate-Limit-Limit": "-1"}."""
    if value is None:
        return None
    known = {"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"}
    if not isinstance(value, dict) or not set(value) <= known or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"rate_limit_header_values: an object of strings with keys among {', '.join(sorted(known))}")
    return dict(value)


ORG_OPTION_PARSERS: Mapping[str, Callable[[Any], Any]] = {
    "profile": parse_profile,
    "daily_limit": _optional_limit,
    "rate_limit_headers": _optional_bool,
    "rate_limit_header_values": _header_values,
    "ignore_undocumented": _optional_bool,
    "webhook": parse_webhook,
}
