"""Issue 25, items 1-3: a stored token opens only for its tenant, its column and its key; `api_domain` is
checked on every use; KMS is asked once per tenant-run; the `v1` forms are sealed again by migration 0018.

The Zoho client is pointed at Zoho's real hosts (no ZOHO_API_BASE_URL) through a local HTTP proxy that
records every host asked for and answers none: what a run would send, and where, without leaving the machine.
"""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from books_sync import token_cipher
from books_sync.db import Database
from books_sync.errors import DatabaseError
from books_sync.migrator import migrate
from books_sync.storage import tenants as tenant_store
from books_sync.token_cipher import TokenUnreadable, kms, reset
from tests.support import MakeOrg, database_at, legacy_local_v1
from zoho_sync_cli.pipeline import run_tenant

Configure = Callable[..., None]


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 that writes down each request line (`CONNECT host:443`, `GET http://...`)
    with its headers, and answers 502: nothing gets through."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.requests: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                try:
                    self.requests.append(connection.recv(65536).decode("latin-1"))
                    connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def hosts(self) -> list[str]:
        return [request.split(" ", 2)[1] for request in self.requests if " " in request]

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def zoho_for_real(env: pytest.MonkeyPatch, configure: Configure) -> Iterator[RecordingProxy]:
    """Zoho's production hosts, reached only through the recording proxy."""
    proxy = RecordingProxy()
    for name in ("ZOHO_API_BASE_URL", "ZOHO_ACCOUNTS_BASE_URL", "NO_PROXY", "no_proxy"):
        env.delenv(name, raising=False)
    configure(HTTPS_PROXY=f"http://127.0.0.1:{proxy.port}", HTTP_PROXY=f"http://127.0.0.1:{proxy.port}")
    yield proxy
    proxy.close()


@pytest.fixture
def kms_key(configure: Configure) -> Iterator[str]:
    with mock_aws():
        import boto3

        reset()
        arn = str(boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"])
        configure(TOKEN_KMS_KEY_ID=arn)
        yield arn
    reset()


@pytest.fixture(autouse=True)
def own_key_file(configure: Configure, tmp_path: Path) -> Iterator[None]:
    configure(ZOHO_SYNC_TOKEN_KEY_FILE=str(tmp_path / "token.key"))
    reset()
    yield
    reset()


def refresh_token_of(db: Database, user_id: str) -> str:
    """The stored refresh token, opened as the refresher opens it."""
    row = db.one("SELECT refresh_token, token_key_id FROM zoho_connections WHERE user_id = :u", u=user_id)
    assert row is not None
    return token_cipher.decrypt(row["refresh_token"], user_id, "refresh_token", row["token_key_id"])


def synced_tenant(make_org: MakeOrg, db: Database) -> Any:
    org = make_org(customers=3, invoices=3)
    assert run_tenant(org.user_id).error is None
    assert db.scalar("SELECT access_token FROM zoho_connections WHERE user_id = :u", u=org.user_id)
    return org


# ----------------------------------------------------------------------------------- the column swap


@pytest.mark.parametrize("with_kms", [False, True], ids=["local", "kms"])
def test_a_refresh_token_copied_into_the_access_token_column_reaches_no_host(
    db: Database, make_org: MakeOrg, with_kms: bool, request: pytest.FixtureRequest
) -> None:
    """The attack of issue 25: with write access to the database but not the key, copy `refresh_token`
    into `access_token`, make it look valid for an hour and point `api_domain` at your own host."""
    if with_kms:
        request.getfixturevalue("kms_key")
    org = synced_tenant(make_org, db)
    before = db.one("SELECT refresh_token, token_key_id FROM zoho_connections WHERE user_id = :u", u=org.user_id)
    db.run(
        "UPDATE zoho_connections SET access_token = refresh_token, "
        "access_token_expires_at = now() + interval '1 hour', "
        "api_domain = 'http://attacker.example' WHERE user_id = :u",
        u=org.user_id,
    )
    proxy = request.getfixturevalue("zoho_for_real")

    run = run_tenant(org.user_id)

    assert proxy.requests == []  # no host at all: not the attacker's, not Zoho's
    assert run.error is not None and "TokenUnreadable" in run.error and f"tenant '{org.user_id}'" in run.error
    assert org.refresh_token not in run.error
    after = db.one("SELECT refresh_token, token_key_id FROM zoho_connections WHERE user_id = :u", u=org.user_id)
    assert after == before and refresh_token_of(db, org.user_id) == org.refresh_token  # intact


def test_an_api_domain_rewritten_in_the_database_is_not_used(db: Database, make_org: MakeOrg, request: Any) -> None:
    """A valid access token with `api_domain` pointed elsewhere: the calls go to Zoho's host for the tenant's
    data center, never to the one in the row."""
    org = synced_tenant(make_org, db)
    db.run("UPDATE zoho_connections SET api_domain = 'http://attacker.example' WHERE user_id = :u", u=org.user_id)
    proxy = request.getfixturevalue("zoho_for_real")

    run_tenant(org.user_id)  # fails: the proxy lets nothing through

    assert proxy.hosts() and set(proxy.hosts()) == {"www.zohoapis.com:443"}
    assert not [r for r in proxy.requests if "attacker" in r]


# ----------------------------------------------------------------------------------- KMS: binding and requests


def test_kms_values_open_only_in_their_own_row_and_column(db: Database, kms_key: str) -> None:
    for user_id in ("u1", "u2"):
        tenant_store.upsert(db, user_id=user_id, organization_id="o1", refresh_token=f"1000.refresh-{user_id}")
        store = tenant_store.PostgresTokenStore(db, user_id)
        with store.locked():
            from datetime import UTC, datetime, timedelta

            from books_sync.zoho.auth import AccessToken

            store.save(AccessToken(f"1000.access-{user_id}", datetime.now(UTC) + timedelta(hours=1)))
    rows = {r["user_id"]: r for r in db.rows("SELECT user_id, refresh_token, access_token FROM zoho_connections")}
    access = rows["u1"]["access_token"]
    assert access.startswith("kms:v2:") and access.count(":") == 3  # kms:v2:<data key>:<sealed>
    cached = tenant_store.read_access_token(db, "u1")
    assert cached is not None and cached.token == "1000.access-u1"

    def read(user_id: str, column: str, value: str) -> None:
        db.run(f"UPDATE zoho_connections SET {column} = :v WHERE user_id = :u", v=value, u=user_id)  # noqa: S608
        if column == "access_token":
            tenant_store.read_access_token(db, user_id)
        else:
            refresh_token_of(db, user_id)

    sealed_key, body = access.removeprefix("kms:v2:").split(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    u2_key, u2_body = rows["u2"]["access_token"].removeprefix("kms:v2:").split(":")
    attempts = {
        "u1 access, tampered": ("u1", "access_token", f"kms:v2:{sealed_key}:{base64.b64encode(raw).decode()}"),
        "u2's access token in u1's row": ("u1", "access_token", rows["u2"]["access_token"]),
        "u1's data key, u2's sealed token": ("u1", "access_token", f"kms:v2:{sealed_key}:{u2_body}"),
        "u1's refresh token as its access token": ("u1", "access_token", rows["u1"]["refresh_token"]),
        "u1's access token as its refresh token": ("u1", "refresh_token", access),
        "u2's refresh token in u1's row": ("u1", "refresh_token", rows["u2"]["refresh_token"]),
    }
    for name, (user_id, column, value) in attempts.items():
        with pytest.raises(TokenUnreadable, match=f"tenant '{user_id}'"):
            read(user_id, column, value)
        db.run(  # put the row back for the next attempt
            "UPDATE zoho_connections SET refresh_token = :r, access_token = :a WHERE user_id = 'u1'",
            r=rows["u1"]["refresh_token"],
            a=access,
        )
        assert name  # each attempt is named for the failure message
    assert u2_key  # both tenants' access tokens carry a data key


def test_kms_rotation_to_a_new_key(db: Database, kms_key: str, configure: Configure) -> None:
    import boto3

    tenant_store.upsert(db, user_id="u1", organization_id="o1", refresh_token="1000.refresh-u1")
    new_key = str(boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"])
    configure(TOKEN_KMS_KEY_ID=new_key)
    reset()
    assert tenant_store.encrypt_stored_tokens(db, everything=True) == 1
    assert db.scalar("SELECT token_key_id FROM zoho_connections WHERE user_id = 'u1'") == new_key
    boto3.client("kms", region_name="us-east-1").disable_key(KeyId=kms_key.rsplit("/", 1)[1])  # the old key may go
    reset()
    assert refresh_token_of(db, "u1") == "1000.refresh-u1"


class KmsRequests:
    """Every request the process's KMS client sends, by operation (a botocore event hook: nothing is replaced)."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def attach(self) -> None:
        client = kms.kms_client("us-east-1")
        client.meta.events.register("before-call.kms", self._seen)  # type: ignore[attr-defined]

    def _seen(self, model: Any, **_: Any) -> None:
        self.operations.append(str(model.name))

    def take(self) -> list[str]:
        taken, self.operations = self.operations, []
        return taken


def test_kms_is_asked_at_most_once_per_tenant_run(db: Database, kms_key: str, make_org: MakeOrg) -> None:
    """Five tenants, hourly runs through the three steps. Per run: each tenant's refresh token is read once
    (the access token expired); a process asks for one data key an hour and opens each data key once."""
    orgs = [make_org(customers=3, invoices=3) for _ in range(5)]
    counter = KmsRequests()
    counter.attach()
    per_run: list[list[str]] = []

    def hourly_run(expire: bool) -> None:
        if expire:  # an hour later: every access token has expired
            db.run("UPDATE zoho_connections SET access_token_expires_at = now() - interval '1 minute'")
        for org in orgs:
            assert run_tenant(org.user_id).error is None
        per_run.append(counter.take())

    hourly_run(expire=False)  # the first: no access token yet
    hourly_run(expire=True)
    hourly_run(expire=True)
    hourly_run(expire=False)  # a run within the hour (e.g. from the console): the access tokens still valid
    reset()  # a new process (a cold Lambda container) for the next run
    counter.attach()
    hourly_run(expire=False)
    reset()  # a cold process again, the tokens 2 minutes from expiry (within the refresh margin): never opened
    counter.attach()
    db.run("UPDATE zoho_connections SET access_token_expires_at = now() + interval '2 minutes'")
    hourly_run(expire=False)

    tenants = len(orgs)
    assert sorted(per_run[0]) == ["Decrypt"] * tenants + ["GenerateDataKey"]
    assert per_run[1] == ["Decrypt"] * tenants and per_run[2] == ["Decrypt"] * tenants
    assert per_run[3] == []
    assert per_run[4] == ["Decrypt"]  # the data key, once for all five
    assert sorted(per_run[5]) == ["Decrypt"] * tenants + ["GenerateDataKey"]  # refresh tokens; no doomed access token
    print(f"KMS requests per tenant-run over {len(per_run)} runs of {tenants} tenants: "
          + ", ".join(f"{len(run) / tenants:.2f}" for run in per_run))  # fmt: skip


# ----------------------------------------------------------------------------------- migration 0018


@pytest.fixture
def db_at_17(empty_db_url: str, configure: Configure) -> Iterator[Database]:
    """A database at migration 17 (tokens in the `v1` forms), and the code under test pointed at it."""
    configure(DATABASE_URL=empty_db_url)
    with database_at(empty_db_url, 17) as db:
        yield db


def _v1_tenant(db: Database, user_id: str, refresh: str, access: str | None, key_id: str) -> None:
    db.run("INSERT INTO users (id) VALUES (:u)", u=user_id)
    db.run(
        "INSERT INTO zoho_connections (user_id, organization_id, refresh_token, access_token, access_token_expires_at, "
        "token_key_id) VALUES (:u, 'o1', :r, :a, now() + interval '1 hour', :k)",
        u=user_id,
        r=refresh,
        a=access,
        k=key_id,
    )


@pytest.mark.parametrize("with_kms", [False, True], ids=["local", "kms"])
def test_migration_0018_seals_every_v1_token_again(
    db_at_17: Database, with_kms: bool, request: pytest.FixtureRequest, configure: Configure
) -> None:
    written = {}
    if with_kms:
        import boto3

        arn = str(request.getfixturevalue("kms_key"))
        client = boto3.client("kms", region_name="us-east-1")

        def v1(user_id: str, token: str) -> str:
            blob = client.encrypt(KeyId=arn, Plaintext=token.encode(), EncryptionContext={"tenant": user_id})
            return "kms:v1:" + base64.b64encode(blob["CiphertextBlob"]).decode()

        key_id = arn
    else:
        key = bytes(range(32))
        configure(ZOHO_SYNC_TOKEN_KEY=base64.b64encode(key).decode())
        reset()

        def v1(user_id: str, token: str) -> str:
            return legacy_local_v1(key, user_id, token)

        key_id = "local:" + v1("x", "x").split(":")[2]
    for number in range(120):  # more than one batch
        user_id = f"t{number:03d}"
        written[user_id] = f"1000.refresh.{user_id}"
        access = v1(user_id, f"1000.access.{user_id}") if number % 2 else None
        _v1_tenant(db_at_17, user_id, v1(user_id, written[user_id]), access, key_id)

    assert [m.version for m in migrate(db_at_17, target=18)] == [18]

    rows = db_at_17.rows("SELECT user_id, refresh_token, access_token, access_token_expires_at FROM zoho_connections")
    assert len(rows) == 120
    for row in rows:
        assert row["refresh_token"].startswith("kms:v2:" if with_kms else "local:v2:")
        assert (row["access_token"], row["access_token_expires_at"]) == (None, None)  # the next run asks anew
        assert refresh_token_of(db_at_17, row["user_id"]) == written[row["user_id"]]
    assert db_at_17.scalar("SELECT convalidated FROM pg_constraint WHERE conname = 'zoho_connections_tokens_encrypted'")
    with pytest.raises(DatabaseError, match="zoho_connections_tokens_encrypted"):  # an old version's write
        db_at_17.run("UPDATE zoho_connections SET refresh_token = :v WHERE user_id = 't000'", v=v1("t000", "1000.x"))
