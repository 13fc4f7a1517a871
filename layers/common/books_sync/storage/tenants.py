"""SQL for `users` and `zoho_connections`: who the tenants are and how to reach their Zoho org."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from books_sync.db import Database
from books_sync.errors import TenantNotActive, UnknownTenant
from books_sync.storage import sync_state
from books_sync.zoho.auth import AccessToken, TokenState
from books_sync.zoho.data_centers import DATA_CENTERS as ZOHO_DATA_CENTERS

DATA_CENTERS = tuple(ZOHO_DATA_CENTERS)
STATUSES = ("active", "needs_reauth", "disabled")


@dataclass(frozen=True)
class Tenant:
    user_id: str
    email: str | None
    organization_id: str
    data_center: str
    status: str
    status_reason: str | None
    daily_call_budget: int
    organization_country_code: str | None
    organization_timezone: str | None
    organization_profile_checked_at: datetime | None = None
    updated_at: datetime | None = None


_SELECT_TENANTS = """
    SELECT u.id AS user_id, u.email, z.organization_id, z.data_center, z.status, z.status_reason,
           z.daily_call_budget, z.organization_country_code, z.organization_timezone,
           z.organization_profile_checked_at, z.updated_at
      FROM users u
      JOIN zoho_connections z ON z.user_id = u.id
"""


def _tenant(row: dict[str, Any]) -> Tenant:
    return Tenant(**row)


_UPSERT_CONNECTION = """
INSERT INTO zoho_connections (user_id, organization_id, data_center, refresh_token, daily_call_budget)
VALUES (:user_id, :organization_id, coalesce(:data_center, 'com'), :refresh_token, coalesce(:budget, 1000))
ON CONFLICT (user_id) DO UPDATE SET
    organization_id = EXCLUDED.organization_id,
    data_center = coalesce(:data_center, zoho_connections.data_center),
    refresh_token = EXCLUDED.refresh_token,
    daily_call_budget = coalesce(:budget, zoho_connections.daily_call_budget),
    access_token = NULL,
    access_token_expires_at = NULL,
    status = 'active',
    status_reason = NULL,
    organization_country_code = CASE
        WHEN zoho_connections.organization_id = EXCLUDED.organization_id
        THEN zoho_connections.organization_country_code END,
    organization_timezone = CASE
        WHEN zoho_connections.organization_id = EXCLUDED.organization_id
        THEN zoho_connections.organization_timezone END,
    updated_at = now()
"""


def upsert(
    db: Database,
    *,
    user_id: str,
    organization_id: str,
    refresh_token: str,
    data_center: str | None = None,
    email: str | None = None,
    daily_call_budget: int | None = None,
) -> bool:
    """Create the tenant, or reconnect it with a new refresh token. True when it was new.

    Reconnecting keeps what is not given (data center, budget, email) and sets the connection active.
    """
    if data_center is not None and data_center not in DATA_CENTERS:
        raise ValueError(f"data center must be one of {', '.join(DATA_CENTERS)}, got {data_center!r}")
    with db.transaction():
        created = db.scalar(
            "INSERT INTO users (id, email) VALUES (:user_id, :email) "
            "ON CONFLICT (id) DO UPDATE SET email = coalesce(EXCLUDED.email, users.email) "
            "RETURNING (xmax = 0)",
            user_id=user_id,
            email=email,
        )
        db.run(
            _UPSERT_CONNECTION,
            user_id=user_id,
            organization_id=organization_id,
            data_center=data_center,
            refresh_token=refresh_token,
            budget=daily_call_budget,
        )
        sync_state.ensure(db, user_id)
    return bool(created)


def list_all(db: Database) -> list[Tenant]:
    return [_tenant(row) for row in db.rows(_SELECT_TENANTS + " ORDER BY u.id")]


def get(db: Database, user_id: str) -> Tenant | None:
    row = db.one(_SELECT_TENANTS + " WHERE u.id = :user_id", user_id=user_id)
    return _tenant(row) if row else None


def set_status(db: Database, user_id: str, status: str, reason: str | None) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    db.run(
        "UPDATE zoho_connections SET status = :status, status_reason = :reason, updated_at = now() "
        "WHERE user_id = :user_id",
        user_id=user_id,
        status=status,
        reason=reason,
    )


def set_organization_profile(db: Database, user_id: str, country_code: str | None, timezone: str | None) -> None:
    db.run(
        "UPDATE zoho_connections SET organization_country_code = :country, organization_timezone = :timezone, "
        "organization_profile_checked_at = now(), updated_at = now() WHERE user_id = :user_id",
        user_id=user_id,
        country=country_code,
        timezone=timezone,
    )


def get_active(db: Database, user_id: str) -> Tenant:
    """The tenant, if it exists and its connection is active; otherwise a typed error saying why."""
    tenant = get(db, user_id)
    if tenant is None:
        raise UnknownTenant(f"unknown tenant {user_id!r}")
    if tenant.status != "active":
        reason = f" ({tenant.status_reason})" if tenant.status_reason else ""
        raise TenantNotActive(f"tenant {user_id!r} is {tenant.status}{reason}")
    return tenant


def read_access_token(db: Database, user_id: str) -> AccessToken | None:
    row = db.one(
        "SELECT access_token, access_token_expires_at, api_domain FROM zoho_connections WHERE user_id = :user_id",
        user_id=user_id,
    )
    if row is None or not row["access_token"] or row["access_token_expires_at"] is None:
        return None
    return AccessToken(row["access_token"], row["access_token_expires_at"], row["api_domain"])


def _lock_token_state(db: Database, user_id: str) -> TokenState | None:
    """Row-lock the connection for the rest of the transaction: one refresher per tenant at a time."""
    if not db.in_transaction:
        raise RuntimeError("locking the token state needs a transaction")
    row = db.one(
        "SELECT refresh_token, access_token, access_token_expires_at, status, api_domain FROM zoho_connections "
        "WHERE user_id = :user_id FOR UPDATE",
        user_id=user_id,
    )
    return TokenState(**row) if row else None


def save_access_token(db: Database, user_id: str, token: AccessToken) -> None:
    db.run(
        "UPDATE zoho_connections SET access_token = :token, access_token_expires_at = :expires_at, "
        "api_domain = coalesce(:api_domain, api_domain), updated_at = now() WHERE user_id = :user_id",
        user_id=user_id,
        token=token.token,
        expires_at=token.expires_at,
        api_domain=token.api_domain,
    )


class PostgresTokenStore:
    """`zoho.auth.TokenStore` over `zoho_connections`: the row lock makes one refresher at a time."""

    def __init__(self, db: Database, user_id: str) -> None:
        self._db = db
        self._user_id = user_id

    def cached(self) -> AccessToken | None:
        return read_access_token(self._db, self._user_id)

    @contextmanager
    def locked(self) -> Iterator[TokenState]:
        with self._db.transaction():
            state = _lock_token_state(self._db, self._user_id)
            if state is None:
                raise UnknownTenant(f"unknown tenant {self._user_id!r}")
            yield state

    def save(self, token: AccessToken) -> None:
        save_access_token(self._db, self._user_id, token)

    def needs_reauth(self, reason: str) -> None:
        set_status(self._db, self._user_id, "needs_reauth", reason)


def require(db: Database, user_id: str) -> Tenant:
    """The tenant, whatever its status; `UnknownTenant` when there is none."""
    tenant = get(db, user_id)
    if tenant is None:
        raise UnknownTenant(f"unknown tenant {user_id!r}")
    return tenant


# What an operator may change about a tenant (`zoho-sync tenant update`): setting → (table, column).
_SETTINGS: dict[str, tuple[str, str]] = {
    "daily_call_budget": ("zoho_connections", "daily_call_budget"),
    "data_center": ("zoho_connections", "data_center"),
    "email": ("users", "email"),
    "reminder_offsets_days": ("sync_metadata", "reminder_offsets_days"),
    "reminder_hour": ("sync_metadata", "reminder_local_hour"),
    "reminder_basis": ("sync_metadata", "reminder_basis"),
    "reminder_repeat_days": ("sync_metadata", "reminder_repeat_days"),
    "reminder_repeat_max": ("sync_metadata", "reminder_repeat_max"),
    "reminder_grace_hours": ("sync_metadata", "reminder_grace_hours"),
}
UPDATABLE = frozenset(_SETTINGS)
_KEY = {"users": "id", "zoho_connections": "user_id", "sync_metadata": "user_id"}


def update(db: Database, user_id: str, changes: dict[str, Any]) -> None:
    """Change settings in one transaction; a new data center drops the cached access token (another host)."""
    with db.transaction():
        for setting, value in changes.items():
            table, column = _SETTINGS[setting]  # names from the table above, never from input
            sql = f"UPDATE {table} SET {column} = :value WHERE {_KEY[table]} = :user_id"  # noqa: S608  # nosec B608
            db.run(sql, value=value, user_id=user_id)
        if "data_center" in changes:
            db.run(
                "UPDATE zoho_connections SET access_token = NULL, access_token_expires_at = NULL, api_domain = NULL, "
                "updated_at = now() WHERE user_id = :user_id",
                user_id=user_id,
            )


def replace_refresh_token(db: Database, user_id: str, refresh_token: str) -> None:
    db.run(
        "UPDATE zoho_connections SET refresh_token = :token, access_token = NULL, access_token_expires_at = NULL, "
        "updated_at = now() WHERE user_id = :user_id",
        token=refresh_token,
        user_id=user_id,
    )


_PURGE = (
    "DELETE FROM reminders WHERE user_id = :user_id",
    "DELETE FROM invoice_sync_skips WHERE user_id = :user_id",
    "DELETE FROM invoices_cache WHERE user_id = :user_id",
    "DELETE FROM customers_cache WHERE user_id = :user_id",
    "DELETE FROM step_runs WHERE user_id = :user_id",
)


def purge_cache(db: Database, user_id: str) -> dict[str, int]:
    """Forget everything synced for the tenant (another organization follows): counts per table."""
    counts: dict[str, int] = {}
    with db.transaction():
        for statement in _PURGE:
            counts[statement.split()[2]] = len(db.run(statement + " RETURNING 1", user_id=user_id))
        db.run(
            "UPDATE sync_metadata SET customer_cursor = NULL, customer_checkpoint = NULL, invoice_cursor = NULL, "
            "invoice_checkpoint = NULL, last_customer_reconcile_at = NULL, last_invoice_reconcile_at = NULL, "
            "open_invoice_pages = NULL WHERE user_id = :user_id",
            user_id=user_id,
        )
        db.run(
            "UPDATE zoho_connections SET access_token = NULL, access_token_expires_at = NULL, api_domain = NULL, "
            "organization_country_code = NULL, organization_timezone = NULL, organization_profile_checked_at = NULL "
            "WHERE user_id = :user_id",
            user_id=user_id,
        )
    return counts


def remove(db: Database, user_id: str) -> dict[str, int]:
    """Delete the tenant: its tokens and every row of personal data cached for it."""
    counts = purge_cache(db, user_id)
    with db.transaction():
        db.run("DELETE FROM users WHERE id = :user_id", user_id=user_id)  # connections and sync state cascade
    return {"customers_cache": counts["customers_cache"], "invoices_cache": counts["invoices_cache"],
            "reminders": counts["reminders"]}  # fmt: skip
