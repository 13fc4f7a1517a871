"""Every error the system raises on purpose, in one place.

A Lambda's uncaught exception reaches Step Functions as its class name, and the state machine's
Retry and Catch rules match those names (`ZohoRateLimited`, `ZohoUnavailable`,
`DatabaseUnavailable`...): the names are a contract, checked by a test against the ASL.
Messages are safe to log: no tokens, no personal data.
"""

from __future__ import annotations

# ----------------------------------------------------------------------------------- configuration


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class EventError(ValueError):
    """The event is malformed; the message names the field and what was expected."""


# ----------------------------------------------------------------------------------- tenants


class UnknownTenant(LookupError):
    """No tenant with this user id."""


class TenantNotActive(RuntimeError):
    """The tenant exists but its Zoho connection is not active (needs re-authorization, or disabled)."""


# ----------------------------------------------------------------------------------- database


class DatabaseUnavailable(Exception):
    """The database cannot be reached; transient from the caller's point of view."""


class DatabaseError(Exception):
    """A statement failed; the message is Postgres's own (never parameters or passwords)."""


class MigrationError(Exception):
    """A migration could not be applied; the database is as it was before that file (for a file applied
    outside a transaction: the statements before the one that failed are done, and the file runs again
    whole)."""


# ----------------------------------------------------------------------------------- Zoho


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


class ZohoDeferral(ZohoError):
    """Not now: the step stops cleanly with its checkpoint saved and answers `deferred` with `reason`;
    a later run resumes. Never a tenant failure, never re-authorization."""

    reason = "deferred"


class DailyBudgetReached(ZohoDeferral):
    """Today's call budget for the organization is spent (ours, or Zoho's code 45); resume tomorrow."""

    reason = "Zoho's daily calls are spent"


class ZohoDown(ZohoDeferral):
    """Zoho is failing for several organizations of this data center at once (the shared circuit breaker
    is open): every tenant there waits together until one probe gets an answer."""

    reason = "Zoho unavailable"


# ----------------------------------------------------------------------------------- sync steps


class OutOfTime(Exception):
    """The Lambda's time budget is spent: commit what is done, save the checkpoint, answer `hasMore`.

    Raised by `TimeBudget.check()` and caught by the step frame; it never leaves a handler.
    """


class StepStillRunning(RuntimeError):
    """An earlier invocation of this execution still works on the tenant (a Lambda task retried while the
    first still runs): the state machine retries this one later, so one step never runs twice at once."""


class OAuthClientRejected(SettingsError):
    """Zoho refused our OAuth client (`invalid_client`, or an answer it does not document): the
    operator's configuration, never the tenant's grant, so no tenant changes status."""


class SchemaBehind(RuntimeError):
    """The database's schema is older than this code: the migrations must run first (never silently)."""


def calls_made(exc: BaseException) -> int:
    """The Zoho calls a step made before it failed (set by the frame: a failed run still spent them)."""
    return int(getattr(exc, "zoho_calls", 0) or 0)
