"""Zoho Accounts' part: refresh tokens, the access tokens they buy, and the token endpoint."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from zoho_emulator.limits import SlidingWindow
from zoho_emulator.settings import Settings
from zoho_emulator.store import Clock
from zoho_emulator.wire import ApiError, Response

_UNAUTHORIZED = "You are not authorized to perform this operation"
_TOO_MANY_REFRESHES = {
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}


@dataclass
class RefreshToken:
    organizations: set[str] | None  # None: every organization
    revoked: bool = False


@dataclass
class AccessToken:
    refresh_token: str
    expires_at: datetime


class OAuth:
    """Issues access tokens for refresh tokens, at most `settings.refresh_limit` per token."""

    def __init__(self, client_id: str, client_secret: str, settings: Settings, clock: Clock) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.settings = settings
        self.clock = clock
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refreshes = SlidingWindow()

    def add_refresh_token(self, token: str, organizations: list[str] | None = None) -> None:
        self.refresh_tokens[token] = RefreshToken(set(organizations) if organizations is not None else None)

    def revoke_refresh_token(self, token: str) -> None:
        """The user disconnected the app: the refresh token and every access token it bought die."""
        if token in self.refresh_tokens:
            self.refresh_tokens[token].revoked = True
        for access, grant in list(self.access_tokens.items()):
            if grant.refresh_token == token:
                del self.access_tokens[access]

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    def token(self, form: dict[str, str]) -> Response:
        """POST /oauth/v2/token. Zoho answers most errors with HTTP 200 and an `error` key."""
        if form.get("grant_type") != "refresh_token":
            return Response.json(200, {"error": "unsupported_grant_type"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Response.json(200, {"error": "invalid_client"})
        token = form.get("refresh_token", "")
        grant = self.refresh_tokens.get(token)
        if grant is None or grant.revoked:
            return Response.json(200, {"error": "invalid_code"})
        if not self.refreshes.admit(token, self.settings.refresh_limit):
            return Response.json(400, _TOO_MANY_REFRESHES)
        access = "1000." + secrets.token_hex(16)
        ttl = self.settings.token_ttl_seconds
        self.access_tokens[access] = AccessToken(token, self.clock.now() + timedelta(seconds=ttl))
        answer = {"access_token": access, "api_domain": "https://www.zohoapis.com", "token_type": "Bearer"}
        return Response.json(200, {**answer, "expires_in": ttl})

    def authorize(self, authorization: str) -> RefreshToken:
        """The grant behind an `Authorization: Zoho-oauthtoken ...` header, or a 401 (code 57)."""
        prefix = "Zoho-oauthtoken "
        if not authorization.startswith(prefix):
            raise ApiError(401, 57, _UNAUTHORIZED)
        grant = self.access_tokens.get(authorization[len(prefix) :])
        if grant is None or grant.expires_at <= self.clock.now():
            raise ApiError(401, 57, _UNAUTHORIZED)
        return self.refresh_tokens[grant.refresh_token]
