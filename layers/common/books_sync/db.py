"""Postgres access over pg8000: where to connect, explicit transactions, advisory locks.

Connections come from DATABASE_URL (TCP or a unix socket via `?host=/dir`), from an RDS-format
Secrets Manager secret in Lambda (TLS on), or, when neither is set, from an embedded Postgres
kept under the project's data folder. In Lambda one connection per thread is kept across warm
invocations and checked before it is reused.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import pg8000.native

from books_sync.errors import DatabaseError, DatabaseUnavailable, SettingsError
from books_sync.settings import Settings, get_settings


@dataclass(frozen=True)
class ConnectParams:
    user: str
    database: str
    password: str | None = None
    host: str = "localhost"
    port: int = 5432
    unix_sock: str | None = None
    tls: bool = False

    def describe(self) -> str:
        """Where this points, safe to log (no password)."""
        where = self.unix_sock if self.unix_sock else f"{self.host}:{self.port}"
        return f"{self.user}@{where}/{self.database}"


_SSL_MODES = {
    "disable": False,
    "allow": False,
    "prefer": False,
    "require": True,
    "verify-ca": True,
    "verify-full": True,
}


def parse_database_url(url: str, name: str = "DATABASE_URL") -> ConnectParams:
    """Parse `postgresql://user:pass@host:port/db[?host=/socket/dir&sslmode=require]`."""
    try:
        parts = urlsplit(url)
        port_value = parts.port
    except ValueError as exc:
        raise SettingsError(f"{name}: not a valid URL ({exc})") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise SettingsError(f"{name}: expected a postgresql:// URL, got scheme {parts.scheme or '(none)'!r}")
    query = parse_qs(parts.query)
    database = unquote(parts.path.lstrip("/")) or "postgres"
    user = unquote(parts.username) if parts.username else "postgres"
    password = unquote(parts.password) if parts.password else None
    port = port_value or 5432
    ssl_mode = query.get("sslmode", ["prefer"])[-1]
    if ssl_mode not in _SSL_MODES:
        raise SettingsError(f"{name}: unknown sslmode {ssl_mode!r}")
    socket_dir = query.get("host", [None])[-1]
    if socket_dir:
        if not socket_dir.startswith("/"):
            raise SettingsError(f"{name}: ?host= must be a socket directory (an absolute path)")
        return ConnectParams(
            user=user,
            database=database,
            password=password,
            port=port,
            unix_sock=f"{socket_dir.rstrip('/')}/.s.PGSQL.{port}",
        )
    if not parts.hostname:
        raise SettingsError(f"{name}: no host (give host:port, or ?host=/socket/dir)")
    return ConnectParams(
        user=user,
        database=database,
        password=password,
        host=parts.hostname,
        port=port,
        tls=_SSL_MODES[ssl_mode],
    )


def params_from_rds_secret(secret: dict[str, Any]) -> ConnectParams:
    """An RDS-format secret: {username, password, host, port, dbname}; TLS is always on."""
    missing = [key for key in ("username", "password", "host") if not secret.get(key)]
    if missing:
        raise SettingsError(f"DB_SECRET_ARN: the secret lacks {', '.join(missing)}")
    try:
        port = int(secret.get("port") or 5432)
    except (TypeError, ValueError):
        raise SettingsError("DB_SECRET_ARN: the secret's port is not a number") from None
    return ConnectParams(
        user=str(secret["username"]),
        password=str(secret["password"]),
        host=str(secret["host"]),
        port=port,
        database=str(secret.get("dbname") or "postgres"),
        tls=True,
    )


def resolve_connect_params(settings: Settings) -> ConnectParams:
    if settings.database_url:
        return parse_database_url(settings.database_url)
    if settings.db_secret_arn:
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - boto3 only when used

        secret = parameters.get_secret(settings.db_secret_arn, transform="json", max_age=300)
        if not isinstance(secret, dict):
            raise SettingsError("DB_SECRET_ARN: the secret is not a JSON object")
        return params_from_rds_secret(secret)
    raise SettingsError("DATABASE_URL: not set, and no DB_SECRET_ARN (only the zoho-sync command has a default)")


def _error_message(exc: Exception) -> str:
    """Postgres's message (and detail) from a pg8000 error, without the statement's parameters."""
    if exc.args and isinstance(exc.args[0], dict):
        fields = exc.args[0]
        message = str(fields.get("M", "database error"))
        detail = fields.get("D")
        return f"{message} ({detail})" if detail else message
    return str(exc)


class Database:
    """One pg8000 connection. Autocommit unless inside `transaction()`."""

    def __init__(self, conn: Any, params: ConnectParams, socket_timeout: float | None = None) -> None:
        self._conn = conn
        self.params = params
        self.socket_timeout = socket_timeout
        self._in_transaction = False

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        try:
            rows = self._conn.run(sql, **params)
        except pg8000.native.DatabaseError as exc:
            raise DatabaseError(_error_message(exc)) from None
        except (pg8000.native.InterfaceError, OSError) as exc:
            raise DatabaseUnavailable(f"lost the database connection ({self.params.describe()}): {exc}") from None
        return list(rows) if rows is not None else []

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        rows = self.run(sql, **params)
        columns = [column["name"] for column in (self._conn.columns or [])]
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        found = self.rows(sql, **params)
        return found[0] if found else None

    def scalar(self, sql: str, **params: Any) -> Any:
        rows = self.run(sql, **params)
        return rows[0][0] if rows else None

    def count_rows(self, sql: str, ids: Sequence[str], **params: Any) -> int:
        """A statement over a list of ids (`:ids`, text[]): how many rows it returned; no ids, no statement."""
        if not ids:
            return 0
        return len(self.run(sql, ids=list(ids), **params))

    def execute_script(self, sql: str) -> None:
        """A whole SQL file through the simple-query protocol (DO blocks and all)."""
        try:
            self._conn.execute_simple(sql)
        except pg8000.native.DatabaseError as exc:
            raise DatabaseError(_error_message(exc)) from None
        except (pg8000.native.InterfaceError, OSError) as exc:
            raise DatabaseUnavailable(f"lost the database connection ({self.params.describe()}): {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises."""
        if self._in_transaction:
            raise RuntimeError("transactions do not nest")
        self.run("BEGIN")
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self._in_transaction = False
            with suppress(DatabaseError, DatabaseUnavailable):
                self.run("ROLLBACK")
            raise
        self._in_transaction = False
        self.run("COMMIT")

    def try_advisory_lock(self, key: str) -> bool:
        """A session-level advisory lock on a text key; False when someone else holds it."""
        return bool(self.scalar("SELECT pg_try_advisory_lock(hashtextextended(:key, 0))", key=key))

    def advisory_lock(self, key: str) -> None:
        """Wait for a session-level advisory lock."""
        self.run("SELECT pg_advisory_lock(hashtextextended(:key, 0))", key=key)

    def advisory_unlock(self, key: str) -> None:
        self.run("SELECT pg_advisory_unlock(hashtextextended(:key, 0))", key=key)

    @contextmanager
    def locked(self, key: str, *, wait: bool = False) -> Iterator[bool]:
        """Hold an advisory lock for the block; yields whether it was taken."""
        if wait:
            self.advisory_lock(key)
            taken = True
        else:
            taken = self.try_advisory_lock(key)
        try:
            yield taken
        finally:
            if taken:
                with suppress(DatabaseError, DatabaseUnavailable):
                    self.advisory_unlock(key)

    def is_alive(self) -> bool:
        try:
            if self._in_transaction:
                return False
            self.run("SELECT 1")
            return True
        except (DatabaseError, DatabaseUnavailable):
            return False

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken socket must not mask the real error
            self._conn.close()


Purpose = Literal["sync", "migrate"]

# Sent as startup parameters, not `SET`: a session `SET` pins every connection behind RDS Proxy.
# (Where the proxy is used, the sync role can carry these instead: see the README's roles SQL.)
_SESSION: dict[Purpose, dict[str, str]] = {
    # A stuck statement, a lock wait or an abandoned transaction must not hold a tenant's rows for ever.
    "sync": {
        "TimeZone": "UTC",
        "statement_timeout": "120s",
        "lock_timeout": "30s",
        "idle_in_transaction_session_timeout": "60s",
    },
    # A data migration may run long; Postgres would go on running it after a client timeout anyway.
    "migrate": {"TimeZone": "UTC"},
}
_SOCKET_TIMEOUT: dict[Purpose, float | None] = {"sync": 30.0, "migrate": None}


def connect(params: ConnectParams, *, application_name: str = "zoho-books-sync", purpose: Purpose = "sync") -> Database:
    """A connection for syncing (timeouts on) or for migrations (no statement or socket timeout)."""
    ssl_context = ssl.create_default_context() if params.tls else None
    try:
        conn = pg8000.native.Connection(
            user=params.user,
            password=params.password,
            host=params.host,
            port=params.port,
            database=params.database,
            unix_sock=params.unix_sock,
            ssl_context=ssl_context,
            timeout=_SOCKET_TIMEOUT[purpose],
            application_name=application_name,
            startup_params=_SESSION[purpose],
        )
    except pg8000.native.DatabaseError as exc:
        raise DatabaseUnavailable(
            f"database refused the connection ({params.describe()}): {_error_message(exc)}"
        ) from None
    except (pg8000.native.InterfaceError, OSError) as exc:
        raise DatabaseUnavailable(
            f"cannot reach the database at {params.describe()}: {_why_unreachable(exc)}"
        ) from None
    return Database(conn, params, socket_timeout=_SOCKET_TIMEOUT[purpose])


def _why_unreachable(exc: Exception) -> str:
    """The driver's reason, in words an operator can act on."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConnectionRefusedError) or "Connection refused" in str(exc):
        return "nothing listens there (connection refused)"
    if isinstance(cause, TimeoutError | socket.timeout) or "timed out" in str(exc):
        return "no answer (timed out: a firewall, security group or wrong host?)"
    if isinstance(cause, socket.gaierror):
        return f"unknown host ({cause.strerror})"
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed ({cause.reason or cause})"
    return " ".join(str(exc).split())[:200]


def connect_from_settings(settings: Settings | None = None, purpose: Purpose = "sync") -> Database:
    return connect(resolve_connect_params(settings or get_settings()), purpose=purpose)


_local = threading.local()


def get_database() -> Database:
    """This thread's connection, reused across warm Lambda invocations and checked before reuse."""
    database: Database | None = getattr(_local, "database", None)
    if database is not None and database.is_alive():
        return database
    if database is not None:
        database.close()
    database = connect_from_settings()
    _local.database = database
    return database


def close_database() -> None:
    database: Database | None = getattr(_local, "database", None)
    if database is not None:
        database.close()
        _local.database = None


def to_json(rows: Any) -> str:
    """Serialize a page of rows for `jsonb_to_recordset(CAST(:rows AS jsonb))`."""
    return json.dumps(rows, default=str, ensure_ascii=False)
