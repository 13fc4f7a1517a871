"""SQL for `users` and `zoho_connections`: who the tenants are and how to reach their Zoho org.

The Zoho tokens are stored encrypted (`books_sync.token_cipher`): every write here encrypts, every
read decrypts, so the Zoho client sees plaintext through `PostgresTokenStore` and knows nothing of
keys. Both tokens of a row are under one key, named in `token_key_id`; each value is bound to its
tenant and its column. An access token past its expiry is never decrypted (no key request for it),
and the refresh token is sealed again only when the key changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from books_sync import token_cipher
from books_sync.db import Database, to_json
from books_sync.errors import TenantNotActive, UnknownTenant
from books_sync.settings import get_settings
from books_sync.storage import sync_state
from books_sync.token_cipher import TokenCipher
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
INSERT INTO zoho_connections (user_id, organization_id, data_center, refresh_token, token_key_id, daily_call_budget)
VALUES (:user_id, :organization_id, coalesce(:data_center, 'com'), :refresh_token, :token_key_id,
        coalesce(:budget, 1000))
ON CONFLICT (user_id) DO UPDATE SET
    organization_id = EXCLUDED.organization_id,
    data_center = coalesce(:data_center, zoho_connections.data_center),
    refresh_token = EXCLUDED.refresh_token,
    token_key_id = EXCLUDED.token_key_id,
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
    cipher = _cipher_for_writing(db, user_id)  # before the transaction: KMS is called outside its locks
    sealed = cipher.encrypt(refresh_token, user_id, "refresh_token")
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
            refresh_token=sealed,
            token_key_id=cipher.key_id(),
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


# ----------------------------------------------------------------------------------- tokens, encrypted at rest


def _cipher_for_writing(db: Database, user_id: str) -> TokenCipher:
    """The configured key; else the KMS key this row, or else the database, already uses; else the local key.

    So `zoho-sync` pointed at the production database, without TOKEN_KMS_KEY_ID, still writes with the
    production key (when its AWS credentials allow), never with a laptop's key the Lambdas lack.
    """
    kms_key_in_use = db.scalar(
        "SELECT token_key_id FROM zoho_connections WHERE token_key_id LIKE 'arn:%' "
        "ORDER BY user_id = :user_id DESC, updated_at DESC LIMIT 1",
        user_id=user_id,
    )
    return token_cipher.cipher_for_writing(kms_key_in_use)


def _unexpired_access_token(row: dict[str, Any], user_id: str) -> str | None:
    """The row's access token, decrypted only while it is still usable: one that expires within the refresh
    margin would be refreshed anyway, so neither it nor an expired one costs a key request."""
    expires_at = row["access_token_expires_at"]
    margin = timedelta(seconds=get_settings().zoho_token_refresh_margin_seconds)
    if not row["access_token"] or expires_at is None or expires_at - margin <= datetime.now(UTC):
        return None
    return token_cipher.decrypt(row["access_token"], user_id, "access_token", row["token_key_id"])


def read_access_token(db: Database, user_id: str) -> AccessToken | None:
    row = db.one(
        "SELECT access_token, access_token_expires_at, api_domain, token_key_id FROM zoho_connections "
        "WHERE user_id = :user_id",
        user_id=user_id,
    )
    if row is None:
        return None
    token = _unexpired_access_token(row, user_id)
    return None if token is None else AccessToken(token, row["access_token_expires_at"], row["api_domain"])


def _lock_token_state(db: Database, user_id: str) -> tuple[TokenState, str] | None:
    """Row-lock the connection for the rest of the transaction: one refresher per tenant at a time.

    With the state, the key its refresh token is sealed with."""
    if not db.in_transaction:
        raise RuntimeError("locking the token state needs a transaction")
    row = db.one(
        "SELECT refresh_token, access_token, access_token_expires_at, status, api_domain, token_key_id "
        "FROM zoho_connections WHERE user_id = :user_id FOR UPDATE",
        user_id=user_id,
    )
    if row is None:
        return None
    key_id = row["token_key_id"]
    refresh_token = token_cipher.decrypt(row["refresh_token"], user_id, "refresh_token", key_id)
    state = TokenState(
        refresh_token=refresh_token,
        access_token=_unexpired_access_token(row, user_id),
        access_token_expires_at=row["access_token_expires_at"],
        status=row["status"],
        api_domain=row["api_domain"],
    )
    return state, key_id


def save_tokens(db: Database, user_id: str, refresh_token: str, token: AccessToken, sealed_with: str | None) -> None:
    """A new access token. The refresh token is sealed again only when the current key is not
    `sealed_with`, the key of the stored one (a changed key is thus taken up at the next refresh)."""
    cipher = _cipher_for_writing(db, user_id)
    access_token = cipher.encrypt(token.token, user_id, "access_token")  # first: names the KMS key's ARN
    changed = cipher.key_id() != sealed_with
    db.run(
        "UPDATE zoho_connections SET refresh_token = coalesce(:refresh_token, refresh_token), access_token = :token, "
        "token_key_id = :token_key_id, access_token_expires_at = :expires_at, "
        "api_domain = coalesce(:api_domain, api_domain), updated_at = now() WHERE user_id = :user_id",
        user_id=user_id,
        refresh_token=cipher.encrypt(refresh_token, user_id, "refresh_token") if changed else None,
        token=access_token,
        token_key_id=cipher.key_id(),
        expires_at=token.expires_at,
        api_domain=token.api_domain,
    )


class PostgresTokenStore:
    """`zoho.auth.TokenStore` over `zoho_connections`: the row lock makes one refresher at a time."""

    def __init__(self, db: Database, user_id: str) -> None:
        self._db = db
        self._user_id = user_id
        self._locked: tuple[TokenState, str] | None = None

    def cached(self) -> AccessToken | None:
        return read_access_token(self._db, self._user_id)

    @contextmanager
    def locked(self) -> Iterator[TokenState]:
        with self._db.transaction():
            locked = _lock_token_state(self._db, self._user_id)
            if locked is None:
                raise UnknownTenant(f"unknown tenant {self._user_id!r}")
            self._locked = locked
            try:
                yield locked[0]
            finally:
                self._locked = None

    def save(self, token: AccessToken) -> None:
        if self._locked is None:
            raise RuntimeError("saving an access token needs the lock (inside locked())")
        state, sealed_with = self._locked
        save_tokens(self._db, self._user_id, state.refresh_token, token, sealed_with)

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
    "reminder_freshness_minutes": ("sync_metadata", "reminder_freshness_minutes"),
    "poll_hours_with_webhooks": ("sync_metadata", "poll_hours_with_webhooks"),
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


def forget_access_token(db: Database, user_id: str) -> None:
    """The next Zoho call refreshes: what checks that the refresh token still works."""
    db.run(
        "UPDATE zoho_connections SET access_token = NULL, access_token_expires_at = NULL WHERE user_id = :user_id",
        user_id=user_id,
    )


def replace_refresh_token(db: Database, user_id: str, refresh_token: str) -> None:
    cipher = _cipher_for_writing(db, user_id)
    db.run(
        "UPDATE zoho_connections SET refresh_token = :token, token_key_id = :token_key_id, access_token = NULL, "
        "access_token_expires_at = NULL, updated_at = now() WHERE user_id = :user_id",
        token=cipher.encrypt(refresh_token, user_id, "refresh_token"),
        token_key_id=cipher.key_id(),
        user_id=user_id,
    )


_TO_SEAL = """
SELECT user_id, refresh_token, token_key_id FROM zoho_connections
 WHERE user_id > :after
   AND (:everything OR refresh_token !~ '^(kms|local):v2:' OR access_token !~ '^(kms|local):v2:')
 ORDER BY user_id LIMIT :limit FOR UPDATE
"""
_RESEAL = """
UPDATE zoho_connections AS z
   SET refresh_token = r.refresh_token, token_key_id = r.token_key_id,
       access_token = NULL, access_token_expires_at = NULL
  FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(user_id text, refresh_token text, token_key_id text)
 WHERE z.user_id = r.user_id
"""


def encrypt_stored_tokens(db: Database, *, everything: bool, legacy: bool = False, batch_size: int = 100) -> int:
    """Seal stored refresh tokens with the current key, a batch of rows at a time: those not in the
    current form (plaintext: migration 0010; `v1`: migration 0018, `legacy`), or `everything` (after a
    key change, before the old key goes). Access tokens are dropped, not sealed again: they live an
    hour and the next run asks for a new one. Idempotent.

    Inside a transaction (a migration's) it works in that one; otherwise each batch commits alone.
    Returns how many rows it sealed.
    """
    cipher: TokenCipher | None = None  # chosen at the first row: no row, no key touched
    sealed, after = 0, ""
    while True:
        with nullcontext() if db.in_transaction else db.transaction():
            rows = db.rows(_TO_SEAL, after=after, everything=everything, limit=batch_size)
            if not rows:
                return sealed
            cipher = cipher or _cipher_for_writing(db, rows[0]["user_id"])
            db.run(_RESEAL, rows=to_json([_resealed(row, cipher, legacy) for row in rows]))
        sealed += len(rows)
        after = rows[-1]["user_id"]


def keys_in_use(db: Database) -> dict[str, int]:
    """How many tenants' tokens each key encrypts (`token_key_id`: a KMS key ARN or `local:<fingerprint>`)."""
    return dict(db.run("SELECT token_key_id, count(*) FROM zoho_connections GROUP BY 1 ORDER BY 1"))


def _resealed(row: dict[str, Any], cipher: TokenCipher, legacy: bool) -> dict[str, Any]:
    """One row's refresh token under `cipher`: a plaintext one as it is, an encrypted one opened first."""
    user_id, stored = row["user_id"], row["refresh_token"]
    plain = stored
    if token_cipher.is_encrypted(stored):
        plain = token_cipher.decrypt(stored, user_id, "refresh_token", row["token_key_id"], legacy=legacy)
    sealed = cipher.encrypt(plain, user_id, "refresh_token")
    return {"user_id": user_id, "refresh_token": sealed, "token_key_id": cipher.key_id()}


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
