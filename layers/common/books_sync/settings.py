"""Typed settings, read once from the environment.

Every knob of the system is here so that no other module reads `os.environ`. A value that is
present but wrong fails at once with a message naming the variable; nothing falls back silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _project_root() -> Path:
    """The checkout this code runs from (where pyproject.toml is), else the working directory."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return Path.cwd()


@dataclass(frozen=True)
class Settings:
    # Database: DATABASE_URL locally, an RDS-format Secrets Manager secret in Lambda, else embedded.
    database_url: str | None = None
    db_secret_arn: str | None = None
    embedded_pg_dir: Path = field(default_factory=lambda: _project_root() / ".data" / "postgres")
    auto_migrate: bool = False

    # Zoho OAuth client: plain values locally, a Secrets Manager secret ({client_id, client_secret}) in AWS.
    zoho_client_id: str | None = None
    zoho_client_secret: str | None = None
    zoho_oauth_secret_arn: str | None = None
    zoho_api_base_url: str | None = None
    zoho_accounts_base_url: str | None = None

    # Zoho call behaviour.
    zoho_rate_limit_calls: int = 100
    zoho_rate_limit_window_seconds: float = 60.0
    zoho_connect_timeout_seconds: float = 5.0
    zoho_read_timeout_seconds: float = 30.0
    zoho_max_retries: int = 5
    zoho_backoff_base_seconds: float = 1.0
    zoho_backoff_max_seconds: float = 60.0
    zoho_token_refresh_margin_seconds: int = 300

    # Sync behaviour.
    time_safety_margin_seconds: float = 90.0
    cursor_overlap_seconds: int = 300
    customer_reconcile_interval_days: float = 7.0
    invoice_reconcile_interval_hours: float = 24.0
    skip_retry_limit: int = 50
    # How many tenants one execution syncs at once (the Map state's MaxConcurrencyPath).
    map_max_concurrency: int = 5


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _parse(env: Mapping[str, str], name: str, parse: Callable[[str], T], expected: str, default: T) -> T:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected {expected}, got {raw!r}") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0 or value == float("inf"):
        raise ValueError(raw)
    return value


def _positive_float(raw: str) -> float:
    value = _non_negative_float(raw)
    if value == 0:
        raise ValueError(raw)
    return value


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def _http_url(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(f"{name}: expected an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (os.environ by default)."""
    env = os.environ if env is None else env
    defaults = Settings()
    embedded_dir = _text(env, "EMBEDDED_PG_DIR")
    return Settings(
        database_url=_text(env, "DATABASE_URL"),
        db_secret_arn=_text(env, "DB_SECRET_ARN"),
        embedded_pg_dir=Path(embedded_dir).expanduser() if embedded_dir else defaults.embedded_pg_dir,
        auto_migrate=_parse(env, "AUTO_MIGRATE", _bool, "true or false", defaults.auto_migrate),
        zoho_client_id=_text(env, "ZOHO_CLIENT_ID"),
        zoho_client_secret=_text(env, "ZOHO_CLIENT_SECRET"),
        zoho_oauth_secret_arn=_text(env, "ZOHO_OAUTH_SECRET_ARN"),
        zoho_api_base_url=_http_url("ZOHO_API_BASE_URL", _text(env, "ZOHO_API_BASE_URL")),
        zoho_accounts_base_url=_http_url("ZOHO_ACCOUNTS_BASE_URL", _text(env, "ZOHO_ACCOUNTS_BASE_URL")),
        zoho_rate_limit_calls=_parse(
            env, "ZOHO_RATE_LIMIT_CALLS", _positive_int, "a positive integer", defaults.zoho_rate_limit_calls
        ),
        zoho_rate_limit_window_seconds=_parse(
            env,
            "ZOHO_RATE_LIMIT_WINDOW_SECONDS",
            _positive_float,
            "a positive number of seconds",
            defaults.zoho_rate_limit_window_seconds,
        ),
        zoho_connect_timeout_seconds=_parse(
            env,
            "ZOHO_CONNECT_TIMEOUT_SECONDS",
            _positive_float,
            "a positive number of seconds",
            defaults.zoho_connect_timeout_seconds,
        ),
        zoho_read_timeout_seconds=_parse(
            env,
            "ZOHO_READ_TIMEOUT_SECONDS",
            _positive_float,
            "a positive number of seconds",
            defaults.zoho_read_timeout_seconds,
        ),
        zoho_max_retries=_parse(
            env, "ZOHO_MAX_RETRIES", _positive_int, "a positive integer", defaults.zoho_max_retries
        ),
        zoho_backoff_base_seconds=_parse(
            env,
            "ZOHO_BACKOFF_BASE_SECONDS",
            _non_negative_float,
            "a number of seconds >= 0",
            defaults.zoho_backoff_base_seconds,
        ),
        zoho_backoff_max_seconds=_parse(
            env,
            "ZOHO_BACKOFF_MAX_SECONDS",
            _non_negative_float,
            "a number of seconds >= 0",
            defaults.zoho_backoff_max_seconds,
        ),
        zoho_token_refresh_margin_seconds=_parse(
            env,
            "ZOHO_TOKEN_REFRESH_MARGIN_SECONDS",
            _positive_int,
            "a positive integer",
            defaults.zoho_token_refresh_margin_seconds,
        ),
        time_safety_margin_seconds=_parse(
            env,
            "SYNC_TIME_SAFETY_MARGIN_SECONDS",
            _non_negative_float,
            "a number of seconds >= 0",
            defaults.time_safety_margin_seconds,
        ),
        cursor_overlap_seconds=_parse(
            env,
            "SYNC_CURSOR_OVERLAP_SECONDS",
            lambda raw: int(_non_negative_float(raw)),
            "a number of seconds >= 0",
            defaults.cursor_overlap_seconds,
        ),
        customer_reconcile_interval_days=_parse(
            env,
            "CUSTOMER_RECONCILE_INTERVAL_DAYS",
            _non_negative_float,
            "a number of days >= 0",
            defaults.customer_reconcile_interval_days,
        ),
        invoice_reconcile_interval_hours=_parse(
            env,
            "INVOICE_RECONCILE_INTERVAL_HOURS",
            _non_negative_float,
            "a number of hours >= 0",
            defaults.invoice_reconcile_interval_hours,
        ),
        skip_retry_limit=_parse(
            env, "SKIP_RETRY_LIMIT", _positive_int, "a positive integer", defaults.skip_retry_limit
        ),
        map_max_concurrency=_parse(
            env, "MAP_MAX_CONCURRENCY", _positive_int, "a positive integer", defaults.map_max_concurrency
        ),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; call `get_settings.cache_clear()` after changing the environment."""
    return load_settings()
