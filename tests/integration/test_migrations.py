"""Migrations on a real (embedded) Postgres: fresh schema, concurrency, and the data migration."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from books_sync.db import Database, connect, parse_database_url
from books_sync.errors import DatabaseError, MigrationError
from books_sync.migrator import OUTSIDE_A_TRANSACTION, applied_versions, current_version, discover, migrate, statements
from tests.support import eventually

NEWEST = discover()[-1].version


@pytest.fixture
def empty_db(empty_db_url: str) -> Iterator[Database]:
    db = connect(parse_database_url(empty_db_url))
    yield db
    db.close()


def _columns(db: Database, table: str) -> list[str]:
    return [
        row[0]
        for row in db.run(
            "SELECT column_name FROM information_schema.columns WHERE table_name = :t ORDER BY ordinal_position",
            t=table,
        )
    ]


def test_migrate_empty_database_then_rerun_is_a_no_op(empty_db: Database) -> None:
    applied = migrate(empty_db)
    assert [m.version for m in applied] == [m.version for m in discover()]
    assert current_version(empty_db) == NEWEST
    for table in ("users", "zoho_connections", "customers_cache", "invoices_cache", "reminders", "invoice_sync_skips"):
        assert empty_db.scalar("SELECT to_regclass(:t) IS NOT NULL", t=table), table
    assert "customer_id" in _columns(empty_db, "invoices_cache")
    assert "customer_name" not in _columns(empty_db, "invoices_cache")
    metadata = _columns(empty_db, "sync_metadata")
    for column in ("last_customer_sync_at", "customer_sync_window_days", "customer_cursor", "invoice_cursor"):
        assert column in metadata
    default = empty_db.scalar(
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_name = 'sync_metadata' AND column_name = 'customer_sync_window_days'"
    )
    assert default == "365"

    before = applied_versions(empty_db)
    assert migrate(empty_db) == []
    assert applied_versions(empty_db) == before


def test_migrate_to_a_version_and_refuse_downgrade(empty_db: Database) -> None:
    assert [m.version for m in migrate(empty_db, target=1)] == [1]
    assert "customer_name" in _columns(empty_db, "invoices_cache")
    migrate(empty_db)
    with pytest.raises(MigrationError, match="downgrades are not supported"):
        migrate(empty_db, target=1)
    with pytest.raises(MigrationError, match="no such migration"):
        migrate(empty_db, target=99)


def test_two_concurrent_migrate_processes_apply_each_migration_once(empty_db_url: str, empty_db: Database) -> None:
    env = {**os.environ, "DATABASE_URL": empty_db_url}
    command = [sys.executable, "-m", "zoho_sync_cli.cli", "migrate"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    applied_lines = [line for out, _ in outputs for line in out.splitlines() if line.startswith("applied ")]
    assert sorted(applied_lines) == sorted(f"applied {m.label}" for m in discover())
    rows = empty_db.run("SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version")
    assert rows == [[m.version, 1] for m in discover()]


T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _old_invoice(
    db: Database,
    user: str,
    invoice: str,
    customer: str | None,
    name: str,
    phone: str | None,
    country: str | None,
    tz: str | None,
    modified: datetime,
    due: date,
) -> None:
    db.run(
        """INSERT INTO invoices_cache (user_id, zoho_invoice_id, invoice_number, zoho_customer_id, customer_name,
               customer_phone, customer_country_code, customer_timezone, status, invoice_date, due_date, total,
               balance, currency_code, zoho_last_modified_at, local_last_synced_at)
           VALUES (:user, :invoice, :number, :customer, :name, :phone, :country, :tz, 'sent', :invoice_date, :due,
               100.50, 40.25, 'INR', :modified, :modified)""",
        user=user,
        invoice=invoice,
        number=f"INV-{invoice}",
        customer=customer,
        name=name,
        phone=phone,
        country=country,
        tz=tz,
        invoice_date=modified.date(),
        due=due,
        modified=modified,
    )


def _fill_old_schema(db: Database) -> None:
    migrate(db, target=2)
    for user in ("u1", "u2"):
        db.run("INSERT INTO users (id, email) VALUES (:u, :e)", u=user, e=f"{user}@example.com")
        db.run("INSERT INTO sync_metadata (user_id) VALUES (:u)", u=user)
    # u1 / C1: name and phone change over time; the newest invoice (by Zoho modified time) wins.
    _old_invoice(
        db, "u1", "1", "C1", "Asha Traders", "98450 12345", "IN", "Asia/Kolkata", T0.replace(month=1), date(2025, 2, 1)
    )
    _old_invoice(
        db,
        "u1",
        "2",
        "C1",
        "Asha Traders Pvt Ltd",
        "+91 98450 99999",
        "IN",
        "Asia/Kolkata",
        T0.replace(month=3),
        date(2025, 4, 1),
    )
    _old_invoice(
        db,
        "u1",
        "3",
        "C1",
        "Asha Traders (old)",
        "98450 00000",
        "IN",
        "Asia/Kolkata",
        T0.replace(month=2),
        date(2025, 3, 1),
    )
    # u1 / C2: no phone at all.
    _old_invoice(db, "u1", "4", "C2", "Ünïcødé GmbH", None, "DE", "Europe/Berlin", T0, date(2025, 1, 30))
    # u2 shares Zoho customer id C1 with u1: a different customer (different tenant).
    _old_invoice(
        db,
        "u2",
        "1",
        "C1",
        "Bob's Bikes",
        "+1 415 555 0101",
        "US",
        "America/Los_Angeles",
        T0.replace(month=5),
        date(2025, 6, 1),
    )
    _old_invoice(
        db,
        "u2",
        "2",
        "C1",
        "Bob's Bikes",
        "+1 415 555 0101",
        "US",
        "America/Los_Angeles",
        T0.replace(month=4),
        date(2025, 5, 1),
    )


def test_data_migration_builds_one_customer_per_user_and_zoho_id(empty_db: Database) -> None:
    _fill_old_schema(empty_db)
    old_columns = _columns(empty_db, "invoices_cache")
    old_rows = empty_db.rows("SELECT * FROM invoices_cache ORDER BY user_id, zoho_invoice_id")

    migrate(empty_db)

    customers = empty_db.rows(
        "SELECT user_id, zoho_customer_id, customer_name, primary_phone, country_code, timezone, sync_hash "
        "FROM customers_cache ORDER BY user_id, zoho_customer_id"
    )
    assert customers == [
        {
            "user_id": "u1",
            "zoho_customer_id": "C1",
            "customer_name": "Asha Traders Pvt Ltd",
            "primary_phone": "+91 98450 99999",
            "country_code": "IN",
            "timezone": "Asia/Kolkata",
            "sync_hash": None,
        },
        {
            "user_id": "u1",
            "zoho_customer_id": "C2",
            "customer_name": "Ünïcødé GmbH",
            "primary_phone": None,
            "country_code": "DE",
            "timezone": "Europe/Berlin",
            "sync_hash": None,
        },
        {
            "user_id": "u2",
            "zoho_customer_id": "C1",
            "customer_name": "Bob's Bikes",
            "primary_phone": "+1 415 555 0101",
            "country_code": "US",
            "timezone": "America/Los_Angeles",
            "sync_hash": None,
        },
    ]
    assert empty_db.scalar("SELECT count(*) FROM invoices_cache WHERE customer_id IS NULL") == 0
    linked = empty_db.run(
        "SELECT i.user_id, i.zoho_invoice_id, c.user_id, c.zoho_customer_id FROM invoices_cache i "
        "JOIN customers_cache c ON c.id = i.customer_id ORDER BY 1, 2"
    )
    assert linked == [
        ["u1", "1", "u1", "C1"],
        ["u1", "2", "u1", "C1"],
        ["u1", "3", "u1", "C1"],
        ["u1", "4", "u1", "C2"],
        ["u2", "1", "u2", "C1"],
        ["u2", "2", "u2", "C1"],
    ]
    new_columns = _columns(empty_db, "invoices_cache")
    for gone in ("customer_name", "customer_phone", "customer_country_code", "customer_timezone", "zoho_customer_id"):
        assert gone not in new_columns

    # The view gives old readers the old shape: same columns in the same order, the same invoice values,
    # and each invoice's customer fields as the customer's current (newest) values.
    view_columns = _columns(empty_db, "invoices_with_customer")
    assert view_columns[: len(old_columns)] == old_columns
    view_rows = empty_db.rows(
        f"SELECT {', '.join(old_columns)} FROM invoices_with_customer ORDER BY user_id, zoho_invoice_id"  # noqa: S608
    )
    newest = {(c["user_id"], c["zoho_customer_id"]): c for c in customers}
    assert len(view_rows) == len(old_rows)
    for old, new in zip(old_rows, view_rows, strict=True):
        customer = newest[(old["user_id"], old["zoho_customer_id"])]
        expected = dict(
            old,
            customer_name=customer["customer_name"],
            customer_phone=customer["primary_phone"],
            customer_country_code=customer["country_code"],
            customer_timezone=customer["timezone"],
        )
        assert new == expected
    # The newest invoice of each customer reads exactly as before.
    assert view_rows[1] == old_rows[1]


def test_data_migration_refuses_unlinkable_invoices_and_changes_nothing(empty_db: Database) -> None:
    _fill_old_schema(empty_db)
    _old_invoice(empty_db, "u1", "9", None, "Walk-in", "123", None, None, T0, date(2025, 1, 1))
    _old_invoice(empty_db, "u2", "8", "  ", "Blank id", None, None, None, T0, date(2025, 1, 1))
    before_columns = _columns(empty_db, "invoices_cache")
    before_rows = empty_db.rows("SELECT * FROM invoices_cache ORDER BY id")

    with pytest.raises(MigrationError) as raised:
        migrate(empty_db)
    message = str(raised.value)
    assert "0003_customers_cache" in message
    assert "cannot link 2 invoice(s)" in message
    assert "u1/9" in message
    assert "u2/8" in message

    assert current_version(empty_db) == 2
    assert empty_db.scalar("SELECT to_regclass('customers_cache')") is None
    assert _columns(empty_db, "invoices_cache") == before_columns
    assert empty_db.rows("SELECT * FROM invoices_cache ORDER BY id") == before_rows

    # Once the rows are fixed the migration goes through.
    empty_db.run("UPDATE invoices_cache SET zoho_customer_id = 'C9' WHERE coalesce(btrim(zoho_customer_id), '') = ''")
    migrate(empty_db)
    assert current_version(empty_db) == NEWEST
    assert empty_db.scalar("SELECT count(*) FROM customers_cache WHERE zoho_customer_id = 'C9'") == 2


def test_failed_statement_reports_postgres_message(empty_db: Database) -> None:
    with pytest.raises(DatabaseError, match="does_not_exist"):
        empty_db.run("SELECT * FROM does_not_exist")


def test_sync_connections_carry_timeouts_and_migrations_do_not(db_url: str, admin_db: Database) -> None:
    """A stuck statement or an abandoned transaction must not hold a tenant's rows for ever; a large
    data migration, or a concurrent index build waiting for the syncs in flight, must not be cut off by
    a timeout, even one the role it connects as has by default (the sync role's, when the migrate
    function is given no credentials of its own)."""
    params = parse_database_url(db_url)
    admin_db.run(f"ALTER ROLE \"{params.user}\" SET lock_timeout = '45s'")
    sync = connect(params)
    migrating = connect(params, purpose="migrate")
    admin_db.run(f'ALTER ROLE "{params.user}" RESET lock_timeout')
    try:
        assert migrating.scalar("SELECT current_setting('lock_timeout')") == "0"
        assert migrating.scalar("SELECT current_setting('idle_in_transaction_session_timeout')") == "0"
        settings = "SELECT current_setting(:name)"
        assert sync.scalar(settings, name="statement_timeout") == "2min"
        assert sync.scalar(settings, name="lock_timeout") == "30s"
        assert sync.scalar(settings, name="idle_in_transaction_session_timeout") == "1min"
        assert sync.scalar(settings, name="TimeZone") == "UTC"
        assert migrating.scalar(settings, name="statement_timeout") == "0"
        assert migrating.scalar(settings, name="TimeZone") == "UTC"
        assert migrating.socket_timeout is None and sync.socket_timeout == 30
    finally:
        sync.close()
        migrating.close()


def test_tenants_a_wrong_client_secret_marked_are_restored(empty_db: Database) -> None:
    """Before 0007 an `invalid_client` answer (our OAuth client, not the tenant's grant) marked every
    tenant as needing re-authorization, and fixing the secret did not bring them back."""
    migrate(empty_db, target=6)
    for user_id, reason in [
        ("misfire", "oauth.token: Zoho refused the refresh token: invalid_client (check ZOHO_CLIENT_ID/...)"),
        ("revoked", "oauth.token: Zoho refused the refresh token: invalid_code"),
    ]:
        empty_db.run("INSERT INTO users (id) VALUES (:u)", u=user_id)
        empty_db.run(
            "INSERT INTO zoho_connections (user_id, organization_id, refresh_token, status, status_reason) "
            "VALUES (:u, 'o1', 'rt', 'needs_reauth', :r)",
            u=user_id,
            r=reason,
        )
    migrate(empty_db)
    statuses = dict(empty_db.run("SELECT user_id, status FROM zoho_connections ORDER BY user_id"))
    assert statuses == {"misfire": "active", "revoked": "needs_reauth"}


def test_migration_0022_builds_its_indexes_without_holding_writes(empty_db_url: str, empty_db: Database) -> None:
    """A fleet database's largest tables keep taking writes while 0022 builds its two indexes: a sync that
    writes a customer during the build waits for no lock (a plain CREATE INDEX holds writes until it ends)."""
    migrate(empty_db, target=21)
    empty_db.run("INSERT INTO users (id) VALUES ('writer'), ('early')")
    early, late = (connect(parse_database_url(empty_db_url)) for _ in range(2))
    outcome: list[object] = []

    def migrate_to_0022() -> None:
        try:
            outcome.append(migrate(empty_db, target=22))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome.append(exc)

    migration = threading.Thread(target=migrate_to_0022)
    try:
        early.run("BEGIN")  # a sync's transaction, open when the migration starts: both builds wait for it
        early.run("INSERT INTO customers_cache (user_id, zoho_customer_id, sync_hash) VALUES ('early', 'c1', 'h')")
        early.run(
            "INSERT INTO invoices_cache (user_id, zoho_invoice_id, customer_id, status, total, balance, due_date) "
            "SELECT 'early', 'i1', id, 'sent', 1, 1, current_date FROM customers_cache WHERE user_id = 'early'"
        )
        migration.start()
        build_waits = (
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%CREATE INDEX%' AND wait_event_type = 'Lock' "
            "AND pid <> pg_backend_pid()"
        )
        eventually(lambda: bool(late.scalar(build_waits)), seconds=30)  # the build waits for `early`
        late.run("SET lock_timeout = '2s'")
        late.run("INSERT INTO customers_cache (user_id, zoho_customer_id, sync_hash) VALUES ('writer', 'c1', 'h')")
        late.run(
            "INSERT INTO invoices_cache (user_id, zoho_invoice_id, customer_id, status, total, balance, due_date) "
            "SELECT 'writer', 'i1', id, 'sent', 1, 1, current_date FROM customers_cache WHERE user_id = 'writer'"
        )
        building = late.scalar("SELECT query FROM pg_stat_activity WHERE query LIKE '%CREATE INDEX%' "
                               "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")  # fmt: skip
        assert "invoices_cache" in building  # the first build still waits: both writes went on beside it
    finally:
        early.run("ROLLBACK")
        migration.join(timeout=60)
        early.close()
        late.close()
    assert not migration.is_alive() and len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    assert current_version(empty_db) == 22
    invalid = empty_db.scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
    names = {row[0] for row in empty_db.run("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert invalid == 0
    assert {"invoices_cache_user_open_id_idx", "customers_cache_user_live_zoho_id_idx"} <= names
    assert not {"invoices_cache_user_open_idx", "customers_cache_user_idx"} & names


def test_a_file_outside_a_transaction_that_failed_runs_again_whole(empty_db: Database, tmp_path: Path) -> None:
    """Its statements commit one by one: one that fails leaves those before it done and the file
    unrecorded. Run again, a build that failed (an invalid index left behind) is built again, and an index
    built already is kept: a table never goes without it."""
    (tmp_path / "0001_table.sql").write_text(
        "CREATE TABLE widgets (id integer, size integer);\nINSERT INTO widgets VALUES (1, 1), (2, 1);\n"
    )
    (tmp_path / "0002_index.sql").write_text(
        f"{OUTSIDE_A_TRANSACTION}\n-- a comment; with a semicolon\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_id_idx\n    ON widgets (id);\n"
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS widgets_size_key ON widgets (size);\n"
    )
    with pytest.raises(MigrationError, match="0002_index failed"):  # two widgets of size 1
        migrate(empty_db, directory=tmp_path)
    validity = "SELECT indexrelid::regclass::text, indisvalid, indexrelid::int FROM pg_index WHERE indrelid = 'widgets'::regclass ORDER BY 1"  # noqa: E501
    before = empty_db.run(validity)
    assert sorted(applied_versions(empty_db)) == [1]
    assert [row[:2] for row in before] == [["widgets_id_idx", True], ["widgets_size_key", False]]

    empty_db.run("UPDATE widgets SET size = 2 WHERE id = 2")
    assert [m.version for m in migrate(empty_db, directory=tmp_path)] == [2]
    after = empty_db.run(validity)
    assert [row[:2] for row in after] == [["widgets_id_idx", True], ["widgets_size_key", True]]
    assert after[0][2] == before[0][2]  # the same index, not built again
    assert statements((tmp_path / "0002_index.sql").read_text()) == [
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_id_idx\n    ON widgets (id)",
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS widgets_size_key ON widgets (size)",
    ]
