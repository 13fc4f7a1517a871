"""What one answer of the Books API means: a pure function of its status and body, unit-tested.

Every string of an answer is made storable first (NUL and lone surrogates removed), so no field
anywhere can fail a page. Zoho's reference: errors carry `{"code": <non-zero>, "message": ...}`;
404 or code 1002 means the record does not exist; 429 is a rate limit, and code 45 the
organization's daily limit; 401 a bad or expired token. 5xx and bodies that are not JSON (a
proxy's page, a truncated answer) are transient.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from books_sync.errors import ZohoApiError, ZohoError, ZohoNotFound, ZohoProtocolError
from books_sync.zoho.retry import TryAgain

NOT_FOUND_CODE = 1002
DAILY_LIMIT_CODE = 45


@dataclass(frozen=True)
class Success:
    payload: dict[str, Any]


@dataclass(frozen=True)
class Unauthorized:
    """401: the access token was refused; refresh it once and ask again."""


@dataclass(frozen=True)
class DailyLimitReached:
    """Zoho says the organization's calls for today are spent."""


@dataclass(frozen=True)
class Failure:
    """A final answer: retrying would not change it."""

    error: ZohoError


Verdict = Success | TryAgain | Unauthorized | DailyLimitReached | Failure


def parse_json(body: bytes) -> Any:
    """The JSON value of a body with every string storable (see `storable`), or None when it is not JSON."""
    if not body:
        return None
    try:
        return _storable_strings(json.loads(body))
    except ValueError:
        return None


def storable(text: str) -> str:
    """Text Postgres can store: no NUL characters, no lone surrogates (each becomes U+FFFD).

    JSON may escape half an emoji (`\\ud83d`); strict UTF-8 refuses it, and Postgres refuses NUL.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def _storable_strings(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [_storable_strings(item) for item in value]
    if isinstance(value, dict):
        return {storable(str(key)): _storable_strings(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Quota:
    """The organization's daily quota as Zoho reports it in `X-Rate-Limit-*` headers (undocumented, seen).

    `resets_in`: seconds until the quota starts again, when the answer says (else the next UTC day).
    """

    limit: int
    remaining: int
    resets_in: float | None = None


_LONGEST_RESET = 25 * 3600.0  # a daily quota resets within a day; a larger figure is misread, not trusted
_LARGEST_QUOTA = 10_000_000  # calls a day: far above any Zoho Books plan; a larger figure is not believed
_COUNT = re.compile(r"[0-9]{1,10}")  # ASCII digits only: int() would also read other scripts' digits, "1_000"
_NUMBER = re.compile(r"[0-9]{1,16}(\.[0-9]{1,6})?")


def quota_from_headers(headers: Mapping[str, str], now: float | None = None) -> Quota | None:
    """Zoho's own count of today's calls, when the answer carries it (every app on the organization spends it).

    Headers are not trusted: a limit that is not a plain count between 1 and `_LARGEST_QUOTA`, or a
    remainder that is not a plain count, drops the whole quota (our own count stands); a remainder
    above the limit is clamped to it."""
    lowered = {key.lower(): value.strip() for key, value in headers.items()}
    limit_text, remaining_text = lowered.get("x-rate-limit-limit", ""), lowered.get("x-rate-limit-remaining", "")
    if not _COUNT.fullmatch(limit_text) or not _COUNT.fullmatch(remaining_text):
        return None
    limit, remaining = int(limit_text), int(remaining_text)
    if not 0 < limit <= _LARGEST_QUOTA:
        return None
    return Quota(limit, min(remaining, limit), seconds_until_reset(lowered.get("x-rate-limit-reset"), now))


def seconds_until_reset(raw: str | None, now: float | None = None) -> float | None:
    """`X-Rate-Limit-Reset` as seconds from now. APIs send seconds to wait, a Unix time in seconds, or
    one in milliseconds: the size tells which. Anything but plain digits, in the past or over a day
    ahead is None (the next UTC midnight is assumed)."""
    if raw is None or not _NUMBER.fullmatch(raw.strip()):
        return None
    value = float(raw)
    clock = time.time() if now is None else now
    if value > 1e11:  # Unix time in milliseconds
        value = value / 1000 - clock
    elif value > 1e9:  # Unix time in seconds
        value -= clock
    return value if 0 <= value <= _LONGEST_RESET else None


def excerpt(body: bytes, length: int = 120) -> str:
    """The start of an answer we cannot read (a proxy's page, another API's error), on one line."""
    text = " ".join(body[: length * 4].decode("utf-8", errors="replace").split())
    return repr(text[:length] + ("..." if len(text) > length else "")) if text else "(empty)"


def classify(  # noqa: PLR0911 - a decision table
    endpoint: str, status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> Verdict:
    """The meaning of one HTTP answer to a Books API call.

    A 429 is the day's quota spent when the headers say nothing remains (or, without headers, when
    the code is 45); any other 429 is the per-minute limit: wait and go on.
    """
    if status == 401:
        return Unauthorized()
    payload = parse_json(body)
    code = payload.get("code") if isinstance(payload, dict) else None
    if status == 429:
        quota = quota_from_headers(headers or {})
        spent = quota.remaining == 0 if quota is not None else code == DAILY_LIMIT_CODE
        return DailyLimitReached() if spent else TryAgain(f"HTTP 429 (code {code})", True)
    if status >= 500:
        return TryAgain(f"HTTP {status}", unavailable=True)
    if payload is None:
        if status == 200:  # truncated or not JSON: usually a proxy hiccup, worth a retry
            return TryAgain("malformed JSON")
        return Failure(ZohoApiError(endpoint, status, None, f"answer is not JSON: {excerpt(body)}"))
    if not isinstance(payload, dict):
        return Failure(ZohoProtocolError(endpoint, f"expected a JSON object, got {type(payload).__name__}"))
    message = str(payload.get("message", "")) or f"no message; the answer: {excerpt(body)}"
    if status == 404 or code == NOT_FOUND_CODE:
        return Failure(ZohoNotFound(endpoint, f"not found (code {code})"))
    if status >= 400:
        return Failure(ZohoApiError(endpoint, status, code, message))
    if code != 0:
        return Failure(ZohoProtocolError(endpoint, f"HTTP {status} with code {code!r}: {message[:200]}"))
    return Success(payload)
