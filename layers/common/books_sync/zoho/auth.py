"""Zoho OAuth: one valid access token per tenant, shared by every Lambda, refreshed by one at a time.

A refresh token yields only about ten access tokens per ten minutes, so the access token lives in
a shared `TokenStore` (Postgres in production), is reused until a few minutes before it expires,
and is refreshed while the store's lock is held, so that concurrent Lambdas of one tenant refresh
once. A refresh Zoho rejects (revoked token, wrong client) marks the connection `needs_reauth`
and raises `ZohoAuthError`: no endless retries.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import requests

from books_sync.errors import SettingsError, ZohoAuthError, ZohoProtocolError, ZohoRateLimited, ZohoUnavailable
from books_sync.settings import Settings
from books_sync.zoho.responses import parse_json
from books_sync.zoho.retry import Retrying, TryAgain

_ENDPOINT = "oauth.token"
_AUTH_ERRORS = {"invalid_code", "invalid_client", "invalid_grant", "unauthorized_client", "invalid_token"}


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, client_secret=***)"


def oauth_client_from_settings(settings: Settings) -> OAuthClient:
    if settings.zoho_client_id and settings.zoho_client_secret:
        return OAuthClient(settings.zoho_client_id, settings.zoho_client_secret)
    if settings.zoho_oauth_secret_arn:
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - boto3 only when used

        secret = parameters.get_secret(settings.zoho_oauth_secret_arn, transform="json", max_age=300)
        if not isinstance(secret, dict) or not secret.get("client_id") or not secret.get("client_secret"):
            raise SettingsError("ZOHO_OAUTH_SECRET_ARN: the secret must be JSON with client_id and client_secret")
        return OAuthClient(str(secret["client_id"]), str(secret["client_secret"]))
    raise SettingsError("ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET: required (or ZOHO_OAUTH_SECRET_ARN)")


def accounts_token_url(settings: Settings, data_center: str) -> str:
    base = settings.zoho_accounts_base_url or f"https://accounts.zoho.{data_center}"
    return f"{base}/oauth/v2/token"


@dataclass(frozen=True)
class TokenState:
    """The connection as the refresher sees it while holding the lock."""

    refresh_token: str
    access_token: str | None
    access_token_expires_at: datetime | None
    status: str


class TokenStore(Protocol):
    """Where a tenant's tokens live, shared by every process (Postgres in production)."""

    def cached(self) -> tuple[str | None, datetime | None]:
        """The stored access token and its expiry, without locking."""

    def locked(self) -> AbstractContextManager[TokenState]:
        """The connection, locked against other refreshers until the block ends (committed then)."""

    def save(self, access_token: str, expires_at: datetime) -> None:
        """Inside `locked()`: the new access token."""

    def needs_reauth(self, reason: str) -> None:
        """Inside `locked()`: the refresh token is dead; the tenant must connect again."""


def parse_token_answer(status: int, body: bytes) -> tuple[str, datetime] | TryAgain:
    """A pure reading of the token endpoint's answer: (access token, expiry), retry, or a typed error."""
    if status >= 500:
        return TryAgain(f"HTTP {status}")
    payload: Any = parse_json(body)
    if payload is None:
        if status == 200:
            return TryAgain("malformed JSON")
        payload = {}
    if not isinstance(payload, dict):
        raise ZohoProtocolError(_ENDPOINT, "the token answer is not a JSON object")
    error = payload.get("error")
    if error:
        if str(error) in _AUTH_ERRORS:
            hint = " (check ZOHO_CLIENT_ID/ZOHO_CLIENT_SECRET)" if error == "invalid_client" else ""
            raise ZohoAuthError(_ENDPOINT, f"Zoho refused the refresh token: {error}{hint}")
        if "too many requests" in str(payload.get("error_description", "")).lower():
            raise ZohoRateLimited(_ENDPOINT, "too many token refreshes; Zoho allows about 10 per 10 minutes")
        raise ZohoAuthError(_ENDPOINT, f"Zoho refused the refresh: {str(error)[:100]}")
    access_token = payload.get("access_token")
    expires_in = payload.get("expires_in")
    if not isinstance(access_token, str) or not access_token or not isinstance(expires_in, int | float):
        raise ZohoProtocolError(_ENDPOINT, "the token answer lacks access_token or expires_in")
    return access_token, datetime.now(UTC) + timedelta(seconds=float(expires_in))


class TokenProvider:
    """Hands out a valid access token for one tenant."""

    def __init__(
        self,
        store: TokenStore,
        *,
        token_url: str,
        oauth: OAuthClient,
        session: requests.Session,
        settings: Settings,
        retrying: Retrying,
        on_call: Callable[[str], None],
    ) -> None:
        self._store = store
        self._token_url = token_url
        self._oauth = oauth
        self._session = session
        self._settings = settings
        self._retrying = retrying
        self._on_call = on_call
        self._cached: tuple[str, datetime] | None = None
        self.refreshes = 0

    def _fresh(self, expires_at: datetime | None) -> bool:
        if expires_at is None:
            return False
        margin = timedelta(seconds=self._settings.zoho_token_refresh_margin_seconds)
        return expires_at - margin > datetime.now(UTC)

    def get(self) -> str:
        if self._cached and self._fresh(self._cached[1]):
            return self._cached[0]
        token, expires_at = self._store.cached()
        if token and expires_at is not None and self._fresh(expires_at):
            self._cached = (token, expires_at)
            return token
        return self.refresh(rejected=None)

    def refresh(self, rejected: str | None) -> str:
        """A new access token. `rejected` is the token the API just refused (401), if any."""
        self._cached = None
        failure: ZohoAuthError | None = None
        with self._store.locked() as state:
            if state.status != "active":
                failure = ZohoAuthError(_ENDPOINT, f"the Zoho connection is {state.status}; re-authorize the tenant")
            elif state.access_token and state.access_token != rejected and self._fresh(state.access_token_expires_at):
                assert state.access_token_expires_at is not None  # another Lambda refreshed while we waited
                self._cached = (state.access_token, state.access_token_expires_at)
            else:
                try:
                    self._cached = self._request_token(state.refresh_token)
                except ZohoAuthError as exc:
                    failure = exc
                    self._store.needs_reauth(str(exc)[:300])
                else:
                    self._store.save(*self._cached)
        if failure is not None:
            raise failure
        assert self._cached is not None
        return self._cached[0]

    def _request_token(self, refresh_token: str) -> tuple[str, datetime]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._oauth.client_id,
            "client_secret": self._oauth.client_secret,
            "refresh_token": refresh_token,
        }

        def attempt() -> tuple[str, datetime] | TryAgain:
            self._on_call("token")
            self.refreshes += 1
            try:
                response = self._session.post(
                    self._token_url,
                    data=form,  # in the body: a URL with the refresh token in it could end up in a log line
                    timeout=(self._settings.zoho_connect_timeout_seconds, self._settings.zoho_read_timeout_seconds),
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                return TryAgain(type(exc).__name__)
            return parse_token_answer(response.status_code, response.content)

        outcome = self._retrying.run(attempt)
        if isinstance(outcome, TryAgain):
            raise ZohoUnavailable(
                _ENDPOINT, f"token refresh failed after {self._retrying.attempts} attempts ({outcome.problem})"
            )
        return outcome
