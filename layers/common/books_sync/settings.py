"""Typed settings, read once from the environment.

Every knob of the system is one row of `SETTINGS` (variable, field, parser, meaning), so no other
module reads `os.environ`, and the README's configuration table is checked against the same rows.
A value that is present but wrong fails at once with a message naming the variable; nothing
falls back silently.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from books_sync.errors import SettingsError

__all__ = ["SETTINGS", "Settings", "SettingsError", "get_settings", "load_settings", "markdown_table"]


def _project_root() -> Path:
    """The checkout this code runs from (where pyproject.toml is), else the working directory."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return Path.cwd()


# AWS's RDS certificate authorities, shipped in the layer when `make rds-ca-bundle` fetched them.
RDS_CA_BUNDLE = Path(__file__).resolve().parent / "certs" / "rds-global-bundle.pem"


def _shipped_rds_ca_bundle() -> Path | None:
    return RDS_CA_BUNDLE if RDS_CA_BUNDLE.is_file() else None


@dataclass(frozen=True)
class BreakerSettings:
    """The data center's circuit breaker (storage.breakers)."""

    organizations: int  # distinct failing organizations that open it
    window: timedelta  # failures older than this are forgotten
    cooldown: timedelta  # the first wait; doubles with each failed probe


@dataclass(frozen=True)
class Settings:
    # Database: DATABASE_URL locally, an RDS-format Secrets Manager secret in Lambda, else embedded.
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    db_secret_arn: str | None = None
    # What DB_SECRET_ARN's secret lacks (an RDS-managed master secret: username and password only) or
    # should be replaced (the RDS Proxy endpoint instead of the instance's).
    db_host: str | None = None
    db_port: int | None = None
    db_name: str | None = None
    db_ssl_root_cert: Path | None = field(default_factory=_shipped_rds_ca_bundle)
    db_session_parameters: bool = True  # False behind RDS Proxy: the role's defaults carry the timeouts
    embedded_pg_dir: Path = field(default_factory=lambda: _project_root() / ".data" / "postgres")

    # Zoho OAuth client: plain values locally, a Secrets Manager secret ({client_id, client_secret}) in AWS.
    zoho_client_id: str | None = None
    zoho_client_secret: str | None = field(default=None, repr=False)
    zoho_client_secrets: dict[str, str] = field(default_factory=dict, repr=False)
    zoho_oauth_secret_arn: str | None = None
    zoho_api_base_url: str | None = None
    zoho_accounts_base_url: str | None = None

    # Zoho call behaviour.
    zoho_rate_limit_calls: int = 100
    zoho_rate_limit_window_seconds: float = 60.0
    zoho_connect_timeout_seconds: float = 5.0
    zoho_read_timeout_seconds: float = 15.0
    zoho_max_retries: int = 3
    zoho_backoff_base_seconds: float = 1.0
    zoho_backoff_max_seconds: float = 10.0
    zoho_token_refresh_margin_seconds: int = 300

    # Zoho tokens at rest (books_sync.token_cipher): a KMS key, else a local key; no key file in Lambda.
    token_kms_key_id: str | None = None
    token_keys: tuple[bytes, ...] = field(default=(), repr=False)
    token_key_file: Path = field(default_factory=lambda: _default_token_key_file())  # noqa: PLW0108 - defined below
    lambda_function_name: str | None = None  # set by AWS Lambda itself

    # The data center's circuit breaker (storage.breakers): when several organizations get no answer.
    breaker_organizations: int = 3
    breaker_window_seconds: float = 120.0
    breaker_cooldown_seconds: float = 60.0

    # Sync behaviour.
    time_safety_margin_seconds: float = 120.0
    cursor_overlap_seconds: int = 300
    customer_reconcile_interval_days: float = 7.0
    invoice_reconcile_interval_hours: float = 24.0
    skip_retry_limit: int = 50
    details_budget_reserve: float = 0.1  # share of the day's calls customer details leave for incremental runs
    # An execution fails only when at least this share of the tenants it tried failed (else they are reported).
    systemic_failure_share: float = 0.5
    # How many tenants one execution syncs at once on the standard path (first syncs, passes in progress,
    # failing tenants: the HeavyTenants Map, one child per tenant) ...
    map_max_concurrency: int = 5
    # ... and how many batches of quiet tenants at once (the QuietTenants Map: EXPRESS children, one
    # TenantBatch invocation each, all three steps of each of its tenants in turn).
    quiet_map_concurrency: int = 20
    quiet_batch_size: int = 25  # quiet tenants per TenantBatch invocation (the ItemBatcher's MaxItemsPerBatch)
    # The S3 bucket that holds each execution's work lists (the Distributed Maps read them: no tenant
    # id travels through the state machine's payloads).
    work_list_bucket: str | None = None
    # hasMore rounds of one sync step for one tenant in one execution; the next execution resumes.
    max_step_rounds: int = 8
    # How often the freshen runs (its schedule): it confirms what would otherwise go stale before the next.
    freshen_interval_minutes: float = 5.0
    # Zoho's webhooks: the receiver's public address (what `tenant webhook` prints), the queue it feeds, and
    # how long a rotated secret is still accepted (Zoho's webhook form is edited by hand).
    webhook_base_url: str | None = None
    webhook_queue_url: str | None = None
    webhook_rotation_grace_hours: float = 24.0

    @property
    def breaker(self) -> BreakerSettings:
        return BreakerSettings(
            self.breaker_organizations,
            timedelta(seconds=self.breaker_window_seconds),
            timedelta(seconds=self.breaker_cooldown_seconds),
        )

    @property
    def worst_call_seconds(self) -> float:
        """The longest one Zoho call can take: every attempt timing out, with the longest wait between them."""
        attempts = self.zoho_max_retries + 1
        timeouts = self.zoho_connect_timeout_seconds + self.zoho_read_timeout_seconds
        return attempts * timeouts + self.zoho_max_retries * self.zoho_backoff_max_seconds

    @property
    def freshen_lookahead(self) -> timedelta:
        """Reminders wanted before the next freshen are confirmed by this one."""
        return timedelta(minutes=self.freshen_interval_minutes)

    def reconcile_interval(self, step: Literal["customer", "invoice"]) -> timedelta:
        """How often a sync step's deletion reconcile runs."""
        if step == "customer":
            return timedelta(days=self.customer_reconcile_interval_days)
        return timedelta(hours=self.invoice_reconcile_interval_hours)


# ----------------------------------------------------------------------------------- parsers
# Each takes the stripped, non-empty text and returns the value or raises ValueError.


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


def _whole_seconds(raw: str) -> int:
    return int(_non_negative_float(raw))


def _share(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < 1:
        raise ValueError(raw)
    return value


def _fraction(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError(raw)
    return value


def _yes_no(raw: str) -> bool:
    if raw.lower() in ("true", "yes", "1"):
        return True
    if raw.lower() in ("false", "no", "0"):
        return False
    raise ValueError(raw)


def _token_keys(raw: str) -> tuple[bytes, ...]:
    keys = tuple(base64.b64decode(part.strip(), validate=True) for part in raw.split(","))
    if not all(len(key) == 32 for key in keys):
        raise ValueError("a key is not 32 bytes")  # never the value: it is a secret
    return keys


def _default_token_key_file() -> Path:
    """`zoho-sync/token.key` in the user's config folder (XDG)."""
    config_home = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(config_home) if config_home else Path.home() / ".config") / "zoho-sync" / "token.key"


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError(raw)
    return raw.rstrip("/")


def _text(raw: str) -> str:
    return raw


def _secrets_by_data_center(raw: str) -> dict[str, str]:
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(raw)
    return value


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _readable_file(raw: str) -> Path:
    path = _path(raw)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError(raw)
    return path


@dataclass(frozen=True)
class Setting:
    """One environment variable: where it goes, how it is read, what it means."""

    env: str
    field: str
    parse: Callable[[str], Any]
    expected: str  # for the error message: "expected <this>, got '...'"
    meaning: str
    shown_default: str | None = None  # the README's default column, when the field's default says it badly
    secret: bool = False  # an error never quotes the value


_INT = "a positive integer"
_SECONDS = "a positive number of seconds"
_SECONDS_0 = "a number of seconds >= 0"

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        "database_url",
        _text,
        "a URL",
        "`postgresql://user:pass@host:port/db[?sslmode=verify-full&sslrootcert=ca.pem]`, or a unix socket "
        "`postgresql://user@/db?host=/socket/dir`",
        "embedded Postgres under `.data/postgres` (the CLI)",
        secret=True,  # it may hold a password
    ),
    Setting(
        "DB_SECRET_ARN",
        "db_secret_arn",
        _text,
        "an ARN",
        "in Lambda: Secrets Manager secret in RDS format (`username`, `password`, `host`, `port`, `dbname`); "
        "TLS, verify-full",
    ),
    Setting(
        "DB_HOST",
        "db_host",
        _text,
        "a host name",
        "with `DB_SECRET_ARN`: the database host, over the secret's (an RDS-managed secret has none; RDS Proxy)",
    ),
    Setting("DB_PORT", "db_port", _positive_int, _INT, "with `DB_SECRET_ARN`: the port, over the secret's (else 5432)"),
    Setting(
        "DB_NAME",
        "db_name",
        _text,
        "a database name",
        "with `DB_SECRET_ARN`: the database, over the secret's `dbname` (else `postgres`)",
    ),
    Setting(
        "DB_SSL_ROOT_CERT",
        "db_ssl_root_cert",
        _readable_file,
        "a readable PEM file",
        "CA certificates trusted, with the system's, for the database's TLS certificate (`DB_SECRET_ARN`, "
        "and `DATABASE_URL` without `sslrootcert`)",
        "AWS's RDS bundle in the layer (`make rds-ca-bundle`), if shipped",
    ),
    Setting(
        "DB_SESSION_PARAMETERS",
        "db_session_parameters",
        _yes_no,
        "true or false",
        "send the session's time zone and timeouts as startup parameters; `false` behind RDS Proxy (which refuses "
        "them): the sync role's defaults from `deploy/roles.sql` carry the same values",
    ),
    Setting(
        "EMBEDDED_PG_DIR",
        "embedded_pg_dir",
        _path,
        "a folder",
        "where the CLI's embedded Postgres keeps its data",
        "`.data/postgres`",
    ),
    Setting("ZOHO_CLIENT_ID", "zoho_client_id", _text, "a client id", "the Zoho OAuth client id, locally"),
    Setting(
        "ZOHO_CLIENT_SECRET",
        "zoho_client_secret",
        _text,
        "a secret",
        "the Zoho OAuth client secret, locally",
        secret=True,
    ),
    Setting(
        "ZOHO_CLIENT_SECRETS",
        "zoho_client_secrets",
        _secrets_by_data_center,
        'a JSON object such as {"eu": "..."}',
        "a client secret per data center, where the Zoho client has one (else `ZOHO_CLIENT_SECRET`)",
        "-",
        secret=True,
    ),
    Setting(
        "ZOHO_OAUTH_SECRET_ARN",
        "zoho_oauth_secret_arn",
        _text,
        "an ARN",
        'in Lambda: a secret `{"client_id", "client_secret"}`',
    ),
    Setting(
        "ZOHO_API_BASE_URL",
        "zoho_api_base_url",
        _http_url,
        "an http(s) URL",
        "the Books API root (with `/books/v3`) for every tenant, instead of the data center's (the emulator)",
        "Zoho's",
    ),
    Setting(
        "ZOHO_ACCOUNTS_BASE_URL",
        "zoho_accounts_base_url",
        _http_url,
        "an http(s) URL",
        "the OAuth host for every tenant, instead of the data center's (the emulator)",
        "Zoho's",
    ),
    Setting(
        "ZOHO_RATE_LIMIT_CALLS",
        "zoho_rate_limit_calls",
        _positive_int,
        _INT,
        "calls per window per organization (pacing)",
    ),
    Setting(
        "ZOHO_RATE_LIMIT_WINDOW_SECONDS",
        "zoho_rate_limit_window_seconds",
        _positive_float,
        _SECONDS,
        "the pacing window",
    ),
    Setting(
        "ZOHO_CONNECT_TIMEOUT_SECONDS",
        "zoho_connect_timeout_seconds",
        _positive_float,
        _SECONDS,
        "HTTP connect timeout",
    ),
    Setting("ZOHO_READ_TIMEOUT_SECONDS", "zoho_read_timeout_seconds", _positive_float, _SECONDS, "HTTP read timeout"),
    Setting("ZOHO_MAX_RETRIES", "zoho_max_retries", _positive_int, _INT, "retries of 429/5xx/timeouts per call"),
    Setting(
        "ZOHO_BACKOFF_BASE_SECONDS",
        "zoho_backoff_base_seconds",
        _non_negative_float,
        _SECONDS_0,
        "first backoff (doubles per retry, with jitter)",
    ),
    Setting("ZOHO_BACKOFF_MAX_SECONDS", "zoho_backoff_max_seconds", _non_negative_float, _SECONDS_0, "longest backoff"),
    Setting(
        "ZOHO_TOKEN_REFRESH_MARGIN_SECONDS",
        "zoho_token_refresh_margin_seconds",
        _positive_int,
        _INT,
        "refresh the access token this long before it expires",
    ),
    Setting(
        "TOKEN_KMS_KEY_ID",
        "token_kms_key_id",
        _text,
        "a KMS key id, ARN or alias",
        "the KMS key that encrypts Zoho tokens at rest (the template sets it); without it, the local key below",
        "- (the local key; refused in Lambda)",
    ),
    Setting(
        "ZOHO_SYNC_TOKEN_KEY",
        "token_keys",
        _token_keys,
        "base64 of 32 bytes (comma-separated keys: the first encrypts)",
        "the local key that encrypts Zoho tokens when there is no KMS key; older keys after a comma only decrypt",
        "- (the key file)",
        secret=True,
    ),
    Setting(
        "ZOHO_SYNC_TOKEN_KEY_FILE",
        "token_key_file",
        _path,
        "a file",
        "the local key file when there is no KMS key nor `ZOHO_SYNC_TOKEN_KEY`: created on first use (mode 600), "
        "never in Lambda; it must go wherever the database goes",
        "`$XDG_CONFIG_HOME/zoho-sync/token.key` (`~/.config/zoho-sync/token.key`)",
    ),
    Setting(
        "AWS_LAMBDA_FUNCTION_NAME",
        "lambda_function_name",
        _text,
        "a function name",
        "set by AWS Lambda, never by hand: there tokens need a KMS key (or `ZOHO_SYNC_TOKEN_KEY`), no key file",
    ),
    Setting(
        "SYNC_TIME_SAFETY_MARGIN_SECONDS",
        "time_safety_margin_seconds",
        _non_negative_float,
        _SECONDS_0,
        "stop and answer `hasMore` with this much Lambda time left",
    ),
    Setting(
        "SYNC_CURSOR_OVERLAP_SECONDS",
        "cursor_overlap_seconds",
        _whole_seconds,
        _SECONDS_0,
        "re-read window behind the cursor",
    ),
    Setting(
        "CUSTOMER_RECONCILE_INTERVAL_DAYS",
        "customer_reconcile_interval_days",
        _non_negative_float,
        "a number of days >= 0",
        "how often the customer deletion reconcile runs",
    ),
    Setting(
        "INVOICE_RECONCILE_INTERVAL_HOURS",
        "invoice_reconcile_interval_hours",
        _non_negative_float,
        "a number of hours >= 0",
        "how often the open-invoice reconcile runs",
    ),
    Setting(
        "SKIP_RETRY_LIMIT",
        "skip_retry_limit",
        _positive_int,
        _INT,
        "held-back invoices retried per run (those whose wait is over)",
    ),
    Setting(
        "DETAILS_BUDGET_RESERVE",
        "details_budget_reserve",
        _share,
        "a share from 0 to 1 (exclusive)",
        "share of each day's Zoho calls that customer details leave for the day's incremental runs",
    ),
    Setting(
        "SYSTEMIC_FAILURE_SHARE",
        "systemic_failure_share",
        _fraction,
        "a share above 0, at most 1",
        "an execution fails (FailedExecutionsAlarm) only when at least this share of the tenants it tried failed; "
        "fewer are reported and retried later",
    ),
    Setting(
        "MAP_MAX_CONCURRENCY",
        "map_max_concurrency",
        _positive_int,
        _INT,
        "tenants synced at once on the standard path (first syncs, passes in progress, failing tenants)",
    ),
    Setting(
        "QUIET_MAP_CONCURRENCY",
        "quiet_map_concurrency",
        _positive_int,
        _INT,
        "batches of quiet tenants synced at once (each a TenantBatch invocation; ListTenants passes it on)",
    ),
    Setting(
        "QUIET_BATCH_SIZE",
        "quiet_batch_size",
        _positive_int,
        _INT,
        "quiet tenants per TenantBatch invocation (all three steps of each, in turn, within 5 minutes)",
    ),
    Setting(
        "WORK_LIST_BUCKET",
        "work_list_bucket",
        _text,
        "a bucket name",
        "the S3 bucket of each execution's work lists (the template creates it; ListTenants writes, the Maps read)",
    ),
    Setting(
        "MAX_STEP_ROUNDS",
        "max_step_rounds",
        _positive_int,
        _INT,
        "calls of one sync step per tenant per execution while it answers hasMore (the next execution resumes)",
    ),
    Setting(
        "BREAKER_ORGANIZATIONS",
        "breaker_organizations",
        _positive_int,
        _INT,
        "organizations of one Zoho data center getting no answer (5xx, timeouts), with no good answer between, "
        "that make every tenant there wait together (the circuit breaker opens)",
    ),
    Setting(
        "BREAKER_WINDOW_SECONDS",
        "breaker_window_seconds",
        _positive_float,
        _SECONDS,
        "how long a failed answer counts towards opening the breaker",
    ),
    Setting(
        "BREAKER_COOLDOWN_SECONDS",
        "breaker_cooldown_seconds",
        _positive_float,
        _SECONDS,
        "how long an open breaker waits before one probe call; it doubles with each failed probe (at most 15 min)",
    ),
    Setting(
        "WEBHOOK_BASE_URL",
        "webhook_base_url",
        _http_url,
        "an http(s) URL",
        "the webhook receiver's address (the stack's WebhookUrl; locally what `webhooks serve` prints): `tenant "
        "webhook` builds each tenant's URL from it",
    ),
    Setting(
        "WEBHOOK_QUEUE_URL",
        "webhook_queue_url",
        _text,
        "an SQS queue URL",
        "where the receiver queues what a webhook named (the template sets it; `webhooks serve` queues in memory)",
    ),
    Setting(
        "WEBHOOK_ROTATION_GRACE_HOURS",
        "webhook_rotation_grace_hours",
        _positive_float,
        "a positive number of hours",
        "how long a tenant's webhook secret is still accepted after `tenant webhook --rotate`",
    ),
    Setting(
        "FRESHEN_INTERVAL_MINUTES",
        "freshen_interval_minutes",
        _positive_float,
        "a positive number of minutes",
        "how often the freshen runs (the template sets it from its schedule): reminders wanted before the next "
        "one are confirmed now",
    ),
)


def shown_default(setting: Setting) -> str:
    """The default as the README states it."""
    if setting.shown_default is not None:
        return setting.shown_default
    value = getattr(Settings(), setting.field)
    if value is None:
        return "-"
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def markdown_table() -> str:
    """The README's configuration table, from `SETTINGS` (a test keeps the README equal to it)."""
    lines = ["| variable | meaning | default |", "|---|---|---|"]
    lines += [f"| `{s.env}` | {s.meaning} | {shown_default(s)} |" for s in SETTINGS]
    return "\n".join(lines)


def _read(env: Mapping[str, str], setting: Setting) -> Any:
    raw = (env.get(setting.env) or "").strip()
    if not raw:
        return getattr(Settings(), setting.field)
    try:
        return setting.parse(raw)
    except ValueError:
        got = "something else (not shown: a secret)" if setting.secret else repr(raw)
        raise SettingsError(f"{setting.env}: expected {setting.expected}, got {got}") from None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (os.environ by default)."""
    source = os.environ if env is None else env
    settings = Settings(**{setting.field: _read(source, setting) for setting in SETTINGS})
    _check_one_call_fits(settings)
    return settings


def _check_one_call_fits(settings: Settings) -> None:
    """A step stops starting Zoho calls `SYNC_TIME_SAFETY_MARGIN_SECONDS` before the Lambda's timeout: the
    call in flight must be able to end within that margin (0 means work to the end: no check)."""
    worst, margin = settings.worst_call_seconds, settings.time_safety_margin_seconds
    if margin and worst > margin:
        raise SettingsError(
            f"SYNC_TIME_SAFETY_MARGIN_SECONDS: {margin:g} s is less than one Zoho call can take ({worst:g} s: "
            f"ZOHO_MAX_RETRIES + 1 attempts of ZOHO_CONNECT_TIMEOUT_SECONDS + ZOHO_READ_TIMEOUT_SECONDS, and "
            "ZOHO_BACKOFF_MAX_SECONDS between them): a step could run into the Lambda's timeout"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; call `get_settings.cache_clear()` after changing the environment."""
    return load_settings()
