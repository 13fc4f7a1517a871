"""Shared fixtures: one embedded Postgres per test session, a fresh database per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from books_sync.db import Database, close_database, connect, parse_database_url
from books_sync.embedded_db import embedded_database_url
from books_sync.migrator import migrate
from books_sync.settings import get_settings

TEMPLATE_DB = "zs_template"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """The URL (unix socket) of this session's embedded Postgres, maintenance database."""
    root = Path(tempfile.mkdtemp(prefix="zs-pg-"))
    url = embedded_database_url(root / "data")
    yield url
    shutil.rmtree(root, ignore_errors=True)


def _url_for(server_url: str, database: str) -> str:
    params = parse_database_url(server_url)
    assert params.unix_sock is not None
    socket_dir = params.unix_sock.rsplit("/", 1)[0]
    return f"postgresql://{params.user}:@/{database}?host={socket_dir}"


@pytest.fixture(scope="session")
def admin_db(pg_server_url: str) -> Iterator[Database]:
    db = connect(parse_database_url(pg_server_url))
    yield db
    db.close()


@pytest.fixture(scope="session")
def template_url(admin_db: Database, pg_server_url: str) -> str:
    """A database migrated to the newest schema, cloned for each test."""
    admin_db.run(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
    admin_db.run(f"CREATE DATABASE {TEMPLATE_DB}")
    url = _url_for(pg_server_url, TEMPLATE_DB)
    db = connect(parse_database_url(url))
    try:
        migrate(db)
    finally:
        db.close()
    return url


def _fresh_database(admin_db: Database, pg_server_url: str, template: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin_db.run(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield _url_for(pg_server_url, name)
    admin_db.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db_url(admin_db: Database, pg_server_url: str, template_url: str) -> Iterator[str]:
    """A fresh database at the newest schema."""
    yield from _fresh_database(admin_db, pg_server_url, TEMPLATE_DB)


@pytest.fixture
def empty_db_url(admin_db: Database, pg_server_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    yield from _fresh_database(admin_db, pg_server_url, "template1")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set environment variables for the code under test; settings are re-read."""
    for name in list(os.environ):
        if name.startswith(("ZOHO_", "SYNC_", "DB_", "CUSTOMER_", "INVOICE_")) or name in {"DATABASE_URL"}:
            monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def db(db_url: str, env: pytest.MonkeyPatch) -> Iterator[Database]:
    """A connection to a fresh migrated database, also set as DATABASE_URL for the code under test."""
    env.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    database = connect(parse_database_url(db_url))
    yield database
    database.close()


@pytest.fixture(autouse=True)
def _fresh_lambda_connection() -> Iterator[None]:
    """Handlers cache one connection per thread, as in Lambda; never carry it across tests."""
    yield
    close_database()
