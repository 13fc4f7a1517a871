"""The database a command works on, said on stderr (never the password), ready or refused with the fix."""

from __future__ import annotations

from books_sync.db import ConnectParams, Database, Purpose, connect_from_settings, resolve_connect_params
from books_sync.errors import DatabaseUnavailable, SchemaBehind
from books_sync.migrator import require_current
from books_sync.settings import get_settings
from zoho_sync_cli.console import CliError, note
from zoho_sync_cli.embedded_db import use_embedded_unless_configured


def describe(params: ConnectParams, embedded_dir: str | None) -> str:
    if embedded_dir:
        return f"embedded Postgres at {embedded_dir} (set DATABASE_URL to use another)"
    where = params.unix_sock or f"{params.host}:{params.port}"
    return f"{params.database} on {where} as {params.user}"


def open_database(*, purpose: Purpose = "sync", schema: bool = True, announce: bool = True) -> Database:
    """Connect, say where (once per command: `announce`); with `schema`, refuse an out-of-date schema."""
    embedded_dir = use_embedded_unless_configured(get_settings())
    params = resolve_connect_params(get_settings())
    if announce:
        note(f"database: {describe(params, embedded_dir)}")
    try:
        db = connect_from_settings(purpose=purpose)
    except DatabaseUnavailable as exc:
        raise CliError(f"{exc} (is it running, and are DATABASE_URL's host and port right?)") from None
    if schema:
        try:
            require_current(db)
        except SchemaBehind as exc:
            db.close()
            raise CliError(f"{exc}") from None
    return db
