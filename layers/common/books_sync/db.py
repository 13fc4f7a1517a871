"""Postgres access over pg8000: where to connect, explicit transactions, advisory locks.

Connections come from DATABASE_URL (TCP or a unix socket via `?host=/dir`), from an RDS-format
Secrets Manager secret in Lambda (TLS, certificate and host name verified), or, when neither is
set, from an embedded Postgres kept under the project's data folder. In Lambda one connection per
thread is kept across warm invocations and checked before it is reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

import pg8000.native

from books_sync.errors import DatabaseError, DatabaseUnavailable, SettingsError
from books_sync.settings import Settings, get_settings

SslMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]


@dataclass(frozen=True)
class ConnectParams:
    user: str
    database: str
    password: str | None = None
    host: str = "localhost"
    port: int = 5432
    unix_sock: str | None = None
    ssl_mode: SslMode = "disable"
    ca_file: Path | None = None  # CAs to trust for the server's certificate (verify-ca, verify-full)
    system_cas: bool = True  # trust the system's CAs as well (not when sslrootcert names a file)
    source: str = "DATABASE_URL"  # the setting these came from (DATABASE_URL or DB_SECRET_ARN), for messages

    @property
    def tls(self) -> bool:
        """Whether the connection is certainly encrypted (sslmode require or stronger)."""
        return self.ssl_mode in ("require", "verify-ca", "verify-full")

    def describe(self) -> str:
        """Where this points, safe to log (no password)."""
        where = self.unix_sock if self.unix_sock else f"{self.host}:{self.port}"
        return f"{self.user}@{where}/{self.database}"


# libpq's modes as a client without fallback connections can have them: `allow` is treated as
# `prefer`, which, as in libpq, tries TLS (unverified) and goes on in plain text if the server refuses.
_SSL_MODES: dict[str, SslMode] = {
    "disable": "disable",
    "allow": "prefer",
    "prefer": "prefer",
    "require": "require",
    "verify-ca": "verify-ca",
    "verify-full": "verify-full",
}


def parse_database_url(url: str, name: str = "DATABASE_URL", *, default_ca_file: Path | None = None) -> ConnectParams:
    """Parse `postgresql://user:pass@host:port/db[?host=/socket/dir&sslmode=verify-full&sslrootcert=ca.pem]`.

    `sslmode` as libpq reads it: `disable`; `allow` and `prefer` (the default) try TLS without
    verifying and fall back to plain text; `require` encrypts without verifying; `verify-ca` checks
    the certificate's chain; `verify-full` also checks that it names the host. `sslrootcert=<file>`
    is the only CA file trusted (with it, `require` verifies the chain, as in libpq, and an absent
    sslmode means `verify-full`); `sslrootcert=system` is the system's CAs and, as in libpq 16,
    demands `verify-full`. Without `sslrootcert`, verification trusts the system's CAs plus
    `default_ca_file` (DB_SSL_ROOT_CERT: AWS's RDS bundle when the layer ships it). A unix socket
    never uses TLS.
    """
    parts, port_value = _split_url(url, name)
    if parts.scheme not in ("postgresql", "postgres"):
        raise SettingsError(f"{name}: expected a postgresql:// URL, got scheme {parts.scheme or '(none)'!r}")
    query = parse_qs(parts.query)
    database = unquote(parts.path.lstrip("/")) or "postgres"
    user = unquote(parts.username) if parts.username else "postgres"
    password = unquote(parts.password) if parts.password else None
    port = port_value or 5432
    socket_dir = query.get("host", [None])[-1]
    if socket_dir:
        if not socket_dir.startswith("/"):
            raise SettingsError(f"{name}: ?host= must be a socket directory (an absolute path)")
        _tls_options(query, name, default_ca_file)  # still refuse a malformed sslmode or sslrootcert
        return ConnectParams(
            user=user,
            database=database,
            password=password,
            port=port,
            unix_sock=f"{socket_dir.rstrip('/')}/.s.PGSQL.{port}",
        )
    if not parts.hostname:
        raise SettingsError(f"{name}: no host (give host:port, or ?host=/socket/dir)")
    ssl_mode, ca_file, system_cas = _tls_options(query, name, default_ca_file)
    return ConnectParams(
        user=user,
        database=database,
        password=password,
        host=parts.hostname,
        port=port,
        ssl_mode=ssl_mode,
        ca_file=ca_file,
        system_cas=system_cas,
        source=name,
    )


def _split_url(url: str, name: str) -> tuple[SplitResult, int | None]:
    try:
        parts = urlsplit(url)
        return parts, parts.port
    except ValueError:  # never the detail: it quotes part of the URL, which may be part of its password
        raise SettingsError(
            f"{name}: not a valid URL (a port that is not a number? a password with '/', '?', '#' or '@' must be "
            "percent-encoded)"
        ) from None


def _tls_options(
    query: dict[str, list[str]], name: str, default_ca_file: Path | None
) -> tuple[SslMode, Path | None, bool]:
    """(sslmode, CA file, whether the system's CAs count) from a URL's query."""
    given_mode = query.get("sslmode", [None])[-1]
    if given_mode is not None and given_mode not in _SSL_MODES:
        raise SettingsError(f"{name}: unknown sslmode {given_mode!r}")
    root_cert = query.get("sslrootcert", [None])[-1]
    if root_cert is None:
        mode = _SSL_MODES[given_mode or "prefer"]
        return mode, default_ca_file, True
    if root_cert == "system":
        if given_mode not in (None, "verify-full"):
            raise SettingsError(f"{name}: sslrootcert=system needs sslmode=verify-full, not {given_mode}")
        return "verify-full", None, True
    mode = _SSL_MODES[given_mode or "verify-full"]
    if mode in ("disable", "prefer"):
        raise SettingsError(f"{name}: sslrootcert is only used with sslmode=verify-full, verify-ca or require")
    ca_file = Path(root_cert).expanduser()
    if not ca_file.is_file() or not os.access(ca_file, os.R_OK):
        raise SettingsError(f"{name}: sslrootcert {root_cert!r} is not a readable file")
    return ("verify-ca" if mode == "require" else mode), ca_file, False


def params_from_rds_secret(
    secret: dict[str, Any], *, ca_file: Path | None = None, settings: Settings | None = None
) -> ConnectParams:
    """An RDS-format secret ({username, password, host, port, dbname}); TLS with `verify-full`.

    DB_HOST, DB_PORT and DB_NAME fill in or replace the secret's values: an RDS-managed master secret
    holds only the username and password, and the functions may reach the database through RDS Proxy.
    The certificate must chain to the system's CAs (RDS Proxy's do) or to `ca_file`
    (DB_SSL_ROOT_CERT: by default AWS's RDS bundle, when the layer ships it).
    """
    chosen = settings or Settings()
    host = chosen.db_host or secret.get("host")
    needed = {"username": secret.get("username"), "password": secret.get("password"), "host (or DB_HOST)": host}
    missing = [key for key, value in needed.items() if not value]
    if missing:
        raise SettingsError(f"DB_SECRET_ARN: the secret lacks {', '.join(missing)}")
    try:
        port = chosen.db_port or int(secret.get("port") or 5432)
    except (TypeError, ValueError):
        raise SettingsError("DB_SECRET_ARN: the secret's port is not a number") from None
    return ConnectParams(
        user=str(secret["username"]),
        password=str(secret["password"]),
        host=str(host),
        port=port,
        database=chosen.db_name or str(secret.get("dbname") or "postgres"),
        ssl_mode="verify-full",
        ca_file=ca_file,
        source="DB_SECRET_ARN",
    )


def resolve_connect_params(settings: Settings) -> ConnectParams:
    if settings.database_url:
        return parse_database_url(settings.database_url, default_ca_file=settings.db_ssl_root_cert)
    if settings.db_secret_arn:
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - boto3 only when used

        secret = parameters.get_secret(settings.db_secret_arn, transform="json", max_age=300)
        if not isinstance(secret, dict):
            raise SettingsError("DB_SECRET_ARN: the secret is not a JSON object")
        return params_from_rds_secret(secret, ca_file=settings.db_ssl_root_cert, settings=settings)
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

    def advisory_lock(self, key: str, poll_seconds: float = 0.2) -> None:
        """Wait for a session-level advisory lock, between tries, not inside a statement: a session
        waiting in a statement holds a snapshot, and `CREATE INDEX CONCURRENTLY` in the session that has
        the lock waits for every older snapshot to go (a deadlock)."""
        while not self.try_advisory_lock(key):
            time.sleep(poll_seconds)

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
    # A data migration may run long, and a concurrent index build waits for every sync in flight:
    # no timeout, whatever the role's defaults (the sync role's, if the migrate function is given no
    # credentials of its own). Postgres would go on running it after a client timeout anyway.
    "migrate": {
        "TimeZone": "UTC",
        "statement_timeout": "0",
        "lock_timeout": "0",
        "idle_in_transaction_session_timeout": "0",
    },
}
_SOCKET_TIMEOUT: dict[Purpose, float | None] = {"sync": 30.0, "migrate": None}


def connect(
    params: ConnectParams,
    *,
    application_name: str = "zoho-books-sync",
    purpose: Purpose = "sync",
    session_parameters: bool = True,
) -> Database:
    """A connection for syncing (timeouts on) or for migrations (no statement or socket timeout).

    `session_parameters` False sends no startup parameters but the application's name (RDS Proxy is
    reported to refuse them): the role's own defaults (deploy/roles.sql) carry the same timeouts.

    A certificate that fails verification is a SettingsError (one line: the host, why, what to set):
    retrying cannot fix it.
    """
    ssl_context = _ssl_context(params)
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
            startup_params=_SESSION[purpose] if session_parameters else {},
        )
    except pg8000.native.DatabaseError as exc:
        raise DatabaseUnavailable(
            f"database refused the connection ({params.describe()}): {_error_message(exc)}"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise SettingsError(_certificate_refused(params, exc)) from None
    except (pg8000.native.InterfaceError, OSError) as exc:
        raise DatabaseUnavailable(
            f"cannot reach the database at {params.describe()}: {_why_unreachable(exc)}"
        ) from None
    return Database(conn, params, socket_timeout=_SOCKET_TIMEOUT[purpose])


def _ssl_context(params: ConnectParams) -> ssl.SSLContext | bool | None:
    """What pg8000 takes: False (no TLS), None (TLS if the server offers it, unverified) or a context."""
    if params.unix_sock or params.ssl_mode == "disable":
        return False
    if params.ssl_mode == "prefer":
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # certificate and host name checked unless turned off
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if params.ssl_mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context.check_hostname = params.ssl_mode == "verify-full"
    if params.system_cas:
        context.load_default_certs()
    if params.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(params.ca_file))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            raise SettingsError(
                f"{_ca_setting(params)}: cannot read CA certificates from {params.ca_file} ({reason})"
            ) from None
    return context


def _ca_setting(params: ConnectParams) -> str:
    """The setting that names the CA file: the URL's sslrootcert, else DB_SSL_ROOT_CERT."""
    return f"{params.source}'s sslrootcert" if not params.system_cas else "DB_SSL_ROOT_CERT"


def _certificate_refused(params: ConnectParams, exc: ssl.SSLCertVerificationError) -> str:
    """One line: which server, why its certificate was refused, what to change."""
    why = (exc.verify_message or exc.reason or str(exc)).rstrip(".")
    trusted = ([str(params.ca_file)] if params.ca_file else []) + (["the system's CAs"] if params.system_cas else [])
    if exc.verify_code in (_X509_HOSTNAME_MISMATCH, _X509_IP_ADDRESS_MISMATCH):
        if params.source == "DB_SECRET_ARN":
            fix = "the secret's host must be a name the certificate carries (the RDS or RDS Proxy endpoint)"
        else:
            fix = f"connect by a name the certificate carries, or use sslmode=verify-ca in {params.source}"
    elif params.source == "DB_SECRET_ARN":
        fix = "set DB_SSL_ROOT_CERT to the CA's PEM file, or run `make rds-ca-bundle` before `sam build`"
    elif not params.system_cas:
        fix = f"point sslrootcert in {params.source} at the CA that signed the server's certificate"
    else:
        fix = (
            f"add sslrootcert=<the CA's PEM file> to {params.source} or set DB_SSL_ROOT_CERT "
            "(for RDS: `make rds-ca-bundle`)"
        )
    return (
        f"cannot verify the TLS certificate of the database at {params.describe()}: {why} "
        f"(sslmode={params.ssl_mode}, trusting {' and '.join(trusted)}); {fix}"
    )


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_X509_HOSTNAME_MISMATCH = 62
_X509_IP_ADDRESS_MISMATCH = 64


def _why_unreachable(exc: Exception) -> str:
    """The driver's reason, in words an operator can act on."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConnectionRefusedError) or "Connection refused" in str(exc):
        return "nothing listens there (connection refused)"
    if isinstance(cause, TimeoutError | socket.timeout) or "timed out" in str(exc):
        return "no answer (timed out: a firewall, security group or wrong host?)"
    if isinstance(cause, socket.gaierror):
        return f"unknown host ({cause.strerror})"
    if "Server refuses SSL" in str(exc):
        return "the server does not accept TLS, which the sslmode requires (is ssl on there?)"
    for error in (exc, cause):
        if isinstance(error, ssl.SSLError):
            return f"TLS failed ({error.reason or error})"
    return " ".join(str(exc).split())[:200]


def connect_from_settings(settings: Settings | None = None, purpose: Purpose = "sync") -> Database:
    settings = settings or get_settings()
    return connect(resolve_connect_params(settings), purpose=purpose, session_parameters=settings.db_session_parameters)


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
