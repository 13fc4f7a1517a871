"""A Zoho client for one tenant, wired to Postgres: the shared call budget and the shared token store."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from books_sync.db import Database
from books_sync.settings import Settings, get_settings
from books_sync.storage.api_usage import PostgresCallBudget
from books_sync.storage.breakers import PostgresBreaker
from books_sync.storage.tenants import PostgresTokenStore, Tenant
from books_sync.zoho.auth import OAuthClient, TokenProvider, TokenStore, oauth_client_from_settings
from books_sync.zoho.client import CallCounter, ZohoClient, http_session
from books_sync.zoho.data_centers import accounts_token_url
from books_sync.zoho.retry import Retrying


def zoho_client(
    db: Database,
    tenant: Tenant,
    settings: Settings | None = None,
    *,
    oauth: OAuthClient | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    deadline: Callable[[], float | None] = lambda: None,
    token_store: TokenStore | None = None,
) -> ZohoClient:
    """`deadline`: seconds the caller still has for Zoho calls (a step's `TimeBudget.seconds_left`);
    `token_store`: where the tokens are, when not (yet) in the tenant's row (a connection being checked)."""
    settings = settings or get_settings()
    session = session or http_session()
    counter = CallCounter()
    tokens = TokenProvider(
        token_store or PostgresTokenStore(db, tenant.user_id),
        token_url=accounts_token_url(settings, tenant.data_center),
        data_center=tenant.data_center,
        oauth=(lambda: oauth) if oauth else (lambda: oauth_client_from_settings(settings, tenant.data_center)),
        session=session,
        settings=settings,
        retrying=Retrying.from_settings(settings, sleep, deadline),
        on_call=counter,
    )
    return ZohoClient(
        tenant.organization_id,
        tenant.data_center,
        budget=PostgresCallBudget(
            db,
            tenant.organization_id,
            tenant.daily_call_budget,
            settings.zoho_rate_limit_calls,
            settings.zoho_rate_limit_window_seconds,
        ),
        tokens=tokens,
        settings=settings,
        session=session,
        retrying=Retrying.from_settings(settings, sleep, deadline),
        counter=counter,
        sleep=sleep,
        breaker=PostgresBreaker(db, tenant.data_center, tenant.organization_id, settings.breaker),
        deadline=deadline,
    )
