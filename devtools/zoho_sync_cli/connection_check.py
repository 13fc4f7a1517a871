"""Checks a refresh token and an organization against Zoho before anything is stored, and a stored
token with a real refresh: `tenant add`, `tenant reactivate`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from books_sync.db import Database
from books_sync.errors import OAuthClientRejected, ZohoApiError, ZohoAuthError, ZohoError
from books_sync.storage import tenants
from books_sync.storage.tenants import Tenant
from books_sync.sync.clients import zoho_client
from books_sync.zoho.auth import AccessToken, TokenState
from zoho_sync_cli.console import CliError

NOT_THE_USERS_ORGANIZATION = 6041  # Zoho: "This user is not associated with this organization."


class TrialTokens:
    """`zoho.auth.TokenStore` in memory: a refresh token tried before it is stored anywhere."""

    def __init__(self, refresh_token: str) -> None:
        self._state = TokenState(refresh_token=refresh_token, access_token=None, access_token_expires_at=None,
                                 status="active")  # fmt: skip
        self.refused: str | None = None

    def cached(self) -> AccessToken | None:
        return None

    @contextmanager
    def locked(self) -> Iterator[TokenState]:
        yield self._state

    def save(self, token: AccessToken) -> None:
        self._state = TokenState(self._state.refresh_token, token.token, token.expires_at, "active", token.api_domain)

    def needs_reauth(self, reason: str) -> None:
        self.refused = reason


def check_new_connection(db: Database, candidate: Tenant, refresh_token: str) -> None:
    """One token refresh and one call for the organization, with nothing stored: a token Zoho refuses, or an
    organization it does not reach, is an error and the tenant is left as it was (or not created)."""
    trial = TrialTokens(refresh_token)
    try:
        zoho_client(db, candidate, token_store=trial).get_organization()
    except ZohoApiError as exc:
        if exc.code == NOT_THE_USERS_ORGANIZATION:
            raise CliError(
                f"organization {candidate.organization_id} is not one this refresh token reaches in data center "
                f"{candidate.data_center} (Zoho code 6041): check --organization-id (and --data-center)"
            ) from None
        raise CliError(f"could not check the organization: {exc} (--no-verify skips the check)") from None
    except OAuthClientRejected as exc:
        raise CliError(str(exc)) from None
    except ZohoAuthError as exc:
        raise CliError(f"Zoho refused the refresh token: {exc}; nothing was stored") from None
    except ZohoError as exc:
        raise CliError(f"could not check the refresh token: {exc} (--no-verify skips the check)") from None


def check_stored_token(db: Database, user_id: str) -> None:
    """A real refresh of the stored refresh token (a cached access token proves nothing about it): the tenant
    stays active when it works, and is marked for re-authorization when Zoho refuses it."""
    tenant = tenants.get_active(db, user_id)
    tenants.forget_access_token(db, user_id)
    try:
        zoho_client(db, tenant).tokens.refresh(rejected=None)
    except OAuthClientRejected as exc:
        raise CliError(str(exc)) from None
    except ZohoAuthError as exc:
        raise CliError(f"the refresh token does not work: {exc}; the tenant needs re-authorization") from None
    except ZohoError as exc:
        raise CliError(f"could not check the refresh token: {exc} (use --no-verify to skip the check)") from None
