"""A whole local stack for the demo, `zoho-sync run` against the emulator, and the benchmarks.

A database (DATABASE_URL, or an embedded Postgres), migrated; a Zoho emulator in a background
thread; and the environment pointed at both, exactly as a deployment's configuration would.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from books_sync.db import Database, close_database, connect_from_settings
from books_sync.migrator import migrate
from books_sync.settings import get_settings
from books_sync.storage import tenants
from zoho_emulator.control import EmulatorControl
from zoho_emulator.server import RunningEmulator, start
from zoho_sync_cli.embedded_db import EmbeddedServer, embedded_server


@dataclass
class LocalStack:
    database_url: str
    emulator: RunningEmulator
    control: EmulatorControl

    def connect(self) -> Database:
        return connect_from_settings()

    def add_tenant(
        self,
        db: Database,
        user_id: str,
        organization_id: str,
        *,
        refresh_token: str | None = None,
        daily_call_budget: int = 10_000,
        **org_options: object,
    ) -> str:
        """An emulator organization plus a tenant connected to it; returns the refresh token."""
        token = refresh_token or f"1000.refresh.{organization_id}"
        self.control.add_org(organization_id, **org_options)
        self.control.add_refresh_token(token, [organization_id])
        tenants.upsert(
            db,
            user_id=user_id,
            organization_id=organization_id,
            refresh_token=token,
            daily_call_budget=daily_call_budget,
        )
        return token


def point_environment_at(emulator: RunningEmulator, database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["ZOHO_API_BASE_URL"] = emulator.api_base_url
    os.environ["ZOHO_ACCOUNTS_BASE_URL"] = emulator.accounts_base_url
    os.environ["ZOHO_CLIENT_ID"] = emulator.emulator.client_id
    os.environ["ZOHO_CLIENT_SECRET"] = emulator.emulator.client_secret
    get_settings.cache_clear()


@contextmanager
def local_stack(*, scratch: bool = True, emulator_port: int = 0) -> Iterator[LocalStack]:
    """Start it all. `scratch`: a throw-away embedded Postgres in a temp dir (else the project's)."""
    saved = dict(os.environ)
    scratch_server: EmbeddedServer | None = None
    scratch_dir: Path | None = None
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        if scratch:
            scratch_dir = Path(tempfile.mkdtemp(prefix="zoho-sync-"))
            scratch_server = embedded_server(scratch_dir / "postgres", delete_on_stop=True)
            database_url = scratch_server.url
        else:
            database_url = embedded_server(get_settings().embedded_pg_dir).url
    running = start(port=emulator_port)
    try:
        point_environment_at(running, database_url)
        db = connect_from_settings(purpose="migrate")
        try:
            migrate(db)
        finally:
            db.close()
        yield LocalStack(database_url, running, EmulatorControl(running.url))
    finally:
        close_database()
        running.stop()
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
        if scratch_server is not None:
            scratch_server.stop()
        if scratch_dir is not None:
            shutil.rmtree(scratch_dir, ignore_errors=True)  # the folder the server's own was made in
