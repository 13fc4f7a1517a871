"""Shared fixtures: one embedded Postgres per test session, a fresh database per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from books_sync import token_cipher, work_list
from books_sync.db import Database, close_database, connect, parse_database_url
from books_sync.migrator import migrate
from books_sync.settings import get_settings
from books_sync.storage import tenants as tenant_store
from tests.support import Org
from zoho_emulator.control import EmulatorControl
from zoho_emulator.server import RunningEmulator
from zoho_emulator.server import start as start_emulator
from zoho_sync_cli.embedded_db import embedded_server

TEMPLATE_DB = "zs_template"
WORK_LIST_BUCKET = "zoho-sync-test-work-lists"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """The URL (unix socket) of this session's embedded Postgres, maintenance database."""
    root = Path(tempfile.mkdtemp(prefix="zs-pg-"))
    server = embedded_server(root / "data", delete_on_stop=True)
    yield server.url
    server.stop()
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


@pytest.fixture(scope="session")
def token_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's local token key file: tests never create or read the user's own."""
    return tmp_path_factory.mktemp("zoho-sync-config") / "token.key"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, token_key_file: Path) -> Iterator[pytest.MonkeyPatch]:
    """Set environment variables for the code under test; settings are re-read. Every test starts
    from none of the project's settings and no terminal size, with the session's own token key file."""
    for name in list(os.environ):
        if name.startswith(("ZOHO_", "SYNC_", "DB_", "CUSTOMER_", "INVOICE_", "MAX_", "MAP_", "QUIET_")) or name in {
            "DATABASE_URL",
            "TOKEN_KMS_KEY_ID",
            "AWS_LAMBDA_FUNCTION_NAME",
            "WORK_LIST_BUCKET",
            "COLUMNS",  # pytest-xdist's workers set it: tables would wrap at 80 where a test expects a pipe
            "LINES",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZOHO_SYNC_TOKEN_KEY_FILE", str(token_key_file))
    get_settings.cache_clear()
    token_cipher.reset()
    yield monkeypatch
    get_settings.cache_clear()
    token_cipher.reset()


@pytest.fixture
def db(db_url: str, env: pytest.MonkeyPatch) -> Iterator[Database]:
    """A connection to a fresh migrated database, also set as DATABASE_URL for the code under test."""
    env.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    database = connect(parse_database_url(db_url))
    yield database
    database.close()


@pytest.fixture
def work_lists(env: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 with the work-list bucket (WORK_LIST_BUCKET), for ListTenants, RestTenants and Summarize."""
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=WORK_LIST_BUCKET)
        env.setenv("WORK_LIST_BUCKET", WORK_LIST_BUCKET)
        get_settings.cache_clear()
        work_list.reset()
        yield WORK_LIST_BUCKET
    work_list.reset()


@pytest.fixture(autouse=True)
def _fresh_lambda_connection() -> Iterator[None]:
    """Handlers cache one connection per thread, as in Lambda; never carry it across tests."""
    yield
    close_database()


# ----------------------------------------------------------------------------------- Zoho emulator


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    """One real HTTP emulator per session; tests use their own organizations."""
    instance = start_emulator()
    yield instance
    instance.stop()


@pytest.fixture
def zoho(emulator: RunningEmulator, env: pytest.MonkeyPatch) -> EmulatorControl:
    """The emulator's control handle, with faults/limits cleared and the code under test pointed at it."""
    env.setenv("ZOHO_API_BASE_URL", emulator.api_base_url)
    env.setenv("ZOHO_ACCOUNTS_BASE_URL", emulator.accounts_base_url)
    env.setenv("ZOHO_CLIENT_ID", emulator.emulator.client_id)
    env.setenv("ZOHO_CLIENT_SECRET", emulator.emulator.client_secret)
    env.setenv("ZOHO_BACKOFF_BASE_SECONDS", "0.01")
    env.setenv("ZOHO_BACKOFF_MAX_SECONDS", "0.05")
    env.setenv("ZOHO_CONNECT_TIMEOUT_SECONDS", "2")
    env.setenv("ZOHO_READ_TIMEOUT_SECONDS", "2")
    env.setenv("ZOHO_MAX_RETRIES", "4")
    env.setenv("ZOHO_RATE_LIMIT_CALLS", "100000")  # the pacing tests set their own limit
    get_settings.cache_clear()
    control = EmulatorControl(emulator.url)
    control.clear_faults()
    control.reset_clock()  # an earlier test's advanced clock would stamp this test's rows in the future
    control.rate_limit(None)
    control.configure(
        token_ttl_seconds=3600,
        hang_seconds=2.5,
        latency_seconds=0,
        refresh_limit=None,
        daily_limit=None,
        max_concurrent=None,
        profile="observed",
        rate_limit_headers=None,
    )
    return control


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test module that sets `ZOHO_PROFILES` runs each of its tests against each emulator profile:
    Zoho as its reference documents it, and as we have seen it behave."""
    if "zoho_profile" in metafunc.fixturenames:
        profiles = getattr(metafunc.module, "ZOHO_PROFILES", ("observed",))
        metafunc.parametrize("zoho_profile", profiles, scope="function")


@pytest.fixture
def make_org(db: Database, zoho: EmulatorControl, zoho_profile: str) -> Callable[..., Org]:
    """Create an emulator organization and a tenant connected to it: make_org(customers=.., invoices=..).

    The organization behaves as the module's profile says (see `pytest_generate_tests`), unless given.
    """

    def make(user_id: str | None = None, *, daily_call_budget: int = 100_000, **options: Any) -> Org:
        suffix = uuid.uuid4().hex[:10]
        organization_id = f"org{suffix}"
        refresh_token = f"1000.refresh.{suffix}"
        options.setdefault("customers", 20)
        options.setdefault("invoices", 40)
        options.setdefault("seed", 7)
        options.setdefault("profile", zoho_profile)
        zoho.add_org(organization_id, **options)
        zoho.add_refresh_token(refresh_token, [organization_id])
        user = user_id or f"user-{suffix}"
        tenant_store.upsert(
            db,
            user_id=user,
            organization_id=organization_id,
            refresh_token=refresh_token,
            daily_call_budget=daily_call_budget,
        )
        return Org(user, organization_id, refresh_token, zoho)

    return make


@pytest.fixture
def configure(env: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set environment variables for the code under test and re-read settings: configure(ZOHO_MAX_RETRIES="6")."""

    def apply(**values: str) -> None:
        for name, value in values.items():
            env.setenv(name, value)
        get_settings.cache_clear()

    return apply
