"""Zoho OAuth: access tokens cached in `zoho_connections`, shared by every Lambda, refreshed by one.

A refresh token yields only about ten access tokens per ten minutes, so the access token lives in
the database, is reused until a few minutes before it expires, and is refreshed under a row lock
so that concurrent Lambdas of one tenant refresh once. A refresh Zoho rejects (revoked token,
wrong client) marks the connection `needs_reauth` and raises `ZohoAuthError`: no endless retries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from books_sync.db import Database
from books_sync.errors import (
    SettingsError,
    UnknownTenant,
    ZohoAuthError,
    ZohoProtocolError,
    ZohoRateLimited,
    ZohoUnavailable,
)
from books_sync.settings import Settings
from books_sync.storage import tenants
from books_sync.zoho.pacing import backoff_seconds

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


class TokenProvider:
    """Hands out a valid access token for one tenant."""

    def __init__(
        self,
        db: Database,
        user_id: str,
        *,
        token_url: str,
        oauth: OAuthClient,
        session: requests.Session,
        settings: Settings,
        on_call: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = db
        self._user_id = user_id
        self._token_url = token_url
        self._oauth = oauth
        self._session = session
        self._settings = settings
        self._on_call = on_call
        self._sleep = sleep
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
        token, expires_at = tenants.read_access_token(self._db, self._user_id)
        if token and self._fresh(expires_at):
            assert expires_at is not None
            self._cached = (token, expires_at)
            return token
        return self.refresh(rejected=None)

    def refresh(self, rejected: str | None) -> str:
        """A new access token. `rejected` is the token the API just refused (401), if any."""
        self._cached = None
        failure: ZohoAuthError | None = None
        # An empty placeholder, not a credential.
        token = ""  # nosec B105
        with self._db.transaction():
            state = tenants.lock_token_state(self._db, self._user_id)
            if state is None:
                raise UnknownTenant(f"unknown tenant {self._user_id!r}")
            if state.status != "active":
                failure = ZohoAuthError(_ENDPOINT, f"the Zoho connection is {state.status}; re-authorize the tenant")
            elif state.access_token and state.access_token != rejected and self._fresh(state.access_token_expires_at):
                token = state.access_token  # another Lambda refreshed while we waited for the lock
                assert state.access_token_expires_at is not None
                self._cached = (token, state.access_token_expires_at)
            else:
                try:
                    token, expires_at = self._request_token(state.refresh_token)
                except ZohoAuthError as exc:
                    failure = exc
                    tenants.set_status(self._db, self._user_id, "needs_reauth", str(exc)[:300])
                else:
                    tenants.save_access_token(self._db, self._user_id, token, expires_at)
                    self._cached = (token, expires_at)
        if failure is not None:
            raise failure
        return token

    def _request_token(self, refresh_token: str) -> tuple[str, datetime]:
        settings = self._settings
        form = {
            "grant_type": "refresh_token",
            "client_id": self._oauth.client_id,
            "client_secret": self._oauth.client_secret,
            "refresh_token": refresh_token,
        }
        last_problem = "no attempt"
        for attempt in range(settings.zoho_max_retries + 1):
            if attempt:
                self._sleep(
                    backoff_seconds(
                        attempt - 1, settings.zoho_backoff_base_seconds, settings.zoho_backoff_max_seconds,
                        random.random,
                    )
                )  # fmt: skip
            self._on_call("token")
            self.refreshes += 1
            try:
                response = self._session.post(
                    self._token_url,
                    data=form,  # in the body: a URL with the refresh token in it could end up in a log line
                    timeout=(settings.zoho_connect_timeout_seconds, settings.zoho_read_timeout_seconds),
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_problem = type(exc).__name__
                continue
            if response.status_code >= 500:
                last_problem = f"HTTP {response.status_code}"
                continue
            try:
                payload: Any = response.json()
            except ValueError:
                if response.status_code == 200:
                    last_problem = "malformed JSON"
                    continue
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
        raise ZohoUnavailable(_ENDPOINT, f"token refresh failed after {settings.zoho_max_retries + 1} attempts "
                              f"({last_problem})")  # fmt: skip
