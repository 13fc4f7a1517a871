"""Typed Zoho failures. Messages are safe to log: no tokens, no personal data.

The class names are what Step Functions sees as error names (`ZohoRateLimited` and
`ZohoUnavailable` are retried by the state machine; the others are not).
"""

from __future__ import annotations


class ZohoError(Exception):
    """Base class; `endpoint` names the call (e.g. `contacts.list`)."""

    def __init__(self, endpoint: str, message: str) -> None:
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint


class ZohoAuthError(ZohoError):
    """The tenant must re-authorize (refresh token revoked or rejected); the connection is marked."""


class ZohoNotFound(ZohoError):
    """404 / code 1002: the record does not exist (any more)."""


class ZohoApiError(ZohoError):
    """Any other 4xx: carries Zoho's `code` and `message`."""

    def __init__(self, endpoint: str, status: int, code: object, message: str) -> None:
        super().__init__(endpoint, f"HTTP {status}, Zoho code {code}: {message[:200]}")
        self.status = status
        self.code = code


class ZohoProtocolError(ZohoError):
    """The answer is not what the API promises (not JSON, truncated, code != 0, missing keys)."""


class ZohoRateLimited(ZohoError):
    """Still rate limited (429) after backing off; transient."""


class ZohoUnavailable(ZohoError):
    """5xx, timeouts or connection errors after bounded retries; transient."""


class DailyBudgetReached(ZohoError):
    """Today's call budget for the organization is spent (ours, or Zoho's code 45); resume tomorrow."""
