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

from books_sync.errors import (
    OAuthClientRejected,
    SettingsError,
    ZohoAuthError,
    ZohoProtocolError,
    ZohoRateLimited,
    ZohoUnavailable,
)
from books_sync.settings import Settings
from books_sync.zoho.data_centers import zoho_api_origin
from books_sync.zoho.responses import parse_json
from books_sync.zoho.retry import Retrying, TryAgain

_ENDPOINT = "oauth.token"
_DEAD_GRANT = {"invalid_code", "invalid_grant", "invalid_token"}  # the refresh token is revoked or expired


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, client_secret=***)"


def oauth_client_from_settings(settings: Settings, data_center: str) -> OAuthClient:
    """Our OAuth client for a data center: one client id, and a secret per data center or one for all."""
    if settings.zoho_client_id and (settings.zoho_client_secret or settings.zoho_client_secrets):
        secret = settings.zoho_client_secrets.get(data_center) or settings.zoho_client_secret
        if not secret:
            raise SettingsError(
                f"ZOHO_CLIENT_SECRETS: no secret for data center {data_center!r} (nor ZOHO_CLIENT_SECRET)"
            )
        return OAuthClient(settings.zoho_client_id, secret)
    if settings.zoho_oauth_secret_arn:
        return _client_from_secret(settings.zoho_oauth_secret_arn, data_center)
    raise SettingsError("ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET: required (or ZOHO_OAUTH_SECRET_ARN)")


def _client_from_secret(arn: str, data_center: str) -> OAuthClient:
    """`{"client_id", "client_secret", "client_secrets": {"eu": ...}}` from Secrets Manager (cached 5 minutes)."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - boto3 only when used

    secret = parameters.get_secret(arn, transform="json", max_age=300)
    per_dc = secret.get("client_secrets") if isinstance(secret, dict) else None
    chosen = (per_dc or {}).get(data_center) if isinstance(per_dc, dict) else None
    if not isinstance(secret, dict) or not secret.get("client_id") or not (chosen or secret.get("client_secret")):
        raise SettingsError("ZOHO_OAUTH_SECRET_ARN: the secret must be JSON with client_id and client_secret")
    return OAuthClient(str(secret["client_id"]), str(chosen or secret["client_secret"]))


@dataclass(frozen=True)
class TokenState:
    """The connection as the refresher sees it while holding the lock."""

    refresh_token: str
    access_token: str | None
    access_token_expires_at: datetime | None
    status: str
    api_domain: str | None = None


@dataclass(frozen=True)
class AccessToken:
    """An access token, when it expires, and the API host Zoho said to use with it."""

    token: str
    expires_at: datetime
    api_domain: str | None = None


class TokenStore(Protocol):
    """Where a tenant's tokens live, shared by every process (Postgres in production)."""

    def cached(self) -> AccessToken | None:
        """The stored access token, without locking."""

    def locked(self) -> AbstractContextManager[TokenState]:
        """The connection, locked against other refreshers until the block ends (committed then)."""

    def save(self, token: AccessToken) -> None:
        """Inside `locked()`: the new access token."""

    def needs_reauth(self, reason: str) -> None:
        """Inside `locked()`: the refresh token is dead; the tenant must connect again."""


def _rejected_client(error: str, data_center: str) -> OAuthClientRejected:
    return OAuthClientRejected(
        f"ZOHO_CLIENT_SECRET: Zoho refused our OAuth client ({error[:60]}) for data center {data_center!r}; check "
        "ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET (ZOHO_CLIENT_SECRETS per data center, or ZOHO_OAUTH_SECRET_ARN)"
    )


def parse_token_answer(status: int, body: bytes, data_center: str = "com") -> AccessToken | TryAgain:
    """A pure reading of the token endpoint's answer: the token, retry, or a typed error.

    Only a dead grant (`invalid_code`, `invalid_grant`) is the tenant's problem (`ZohoAuthError`);
    `invalid_client` or an answer Zoho does not document is ours (`OAuthClientRejected`).
    """
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
        if str(error) in _DEAD_GRANT:
            raise ZohoAuthError(_ENDPOINT, f"Zoho refused the refresh token: {error}")
        if "too many requests" in str(payload.get("error_description", "")).lower():
            raise ZohoRateLimited(_ENDPOINT, "too many token refreshes; Zoho allows about 10 per 10 minutes")
        raise _rejected_client(str(error), data_center)
    access_token = payload.get("access_token")
    expires_in = payload.get("expires_in")
    if not isinstance(access_token, str) or not access_token or not isinstance(expires_in, int | float):
        raise ZohoProtocolError(_ENDPOINT, "the token answer lacks access_token or expires_in")
    expires_at = datetime.now(UTC) + timedelta(seconds=float(expires_in))
    return AccessToken(access_token, expires_at, zoho_api_origin(payload.get("api_domain"), data_center))


class TokenProvider:
    """Hands out a valid access token for one tenant, and the API host Zoho named with it."""

    def __init__(
        self,
        store: TokenStore,
        *,
        token_url: str,
        data_center: str,
        oauth: Callable[[], OAuthClient],
        session: requests.Session,
        settings: Settings,
        retrying: Retrying,
        on_call: Callable[[str], None],
    ) -> None:
        self._store = store
        self._token_url = token_url
        self._data_center = data_center
        self._oauth = oauth  # asked only when a refresh is needed: a cached token needs no client secret
        self._session = session
        self._settings = settings
        self._retrying = retrying
        self._on_call = on_call
        self._cached: AccessToken | None = None
        self.refreshes = 0

    @property
    def api_domain(self) -> str | None:
        return self._cached.api_domain if self._cached else None

    def _fresh(self, expires_at: datetime | None) -> bool:
        if expires_at is None:
            return False
        margin = timedelta(seconds=self._settings.zoho_token_refresh_margin_seconds)
        return expires_at - margin > datetime.now(UTC)

    def get(self) -> str:
        if self._cached and self._fresh(self._cached.expires_at):
            return self._cached.token
        stored = self._store.cached()
        if stored and self._fresh(stored.expires_at):
            self._cached = stored
            return stored.token
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
                self._cached = AccessToken(state.access_token, state.access_token_expires_at, state.api_domain)
            else:
                try:
                    self._cached = self._request_token(state.refresh_token)
                except ZohoAuthError as exc:
                    failure = exc
                    self._store.needs_reauth(str(exc)[:300])
                else:
                    self._store.save(self._cached)
        if failure is not None:
            raise failure
        assert self._cached is not None
        return self._cached.token

    def _request_token(self, refresh_token: str) -> AccessToken:
        oauth = self._oauth()
        form = {
            "grant_type": "refresh_token",
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret,
            "refresh_token": refresh_token,
        }

        def attempt() -> AccessToken | TryAgain:
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
            return parse_token_answer(response.status_code, response.content, self._data_center)

        outcome = self._retrying.run(attempt)
        if isinstance(outcome, TryAgain):
            raise ZohoUnavailable(
                _ENDPOINT, f"token refresh failed after {self._retrying.attempts} attempts ({outcome.problem})"
            )
        return outcome
