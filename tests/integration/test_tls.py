"""TLS to the database against a real Postgres whose certificate a CA made here signed.

The embedded Postgres is built without OpenSSL, so this uses the system's PostgreSQL (Debian's
`postgresql` package; `.ci/run` installs it when missing), run as an unprivileged user in a
temporary folder, on a free port, with `ssl = on`. The server's certificate names `localhost`
only, so `127.0.0.1` is the wrong host name. Without such a PostgreSQL the tests skip, saying
why, unless TLS_TEST_POSTGRES=required (CI), where they fail.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from books_sync.db import connect, connect_from_settings, params_from_rds_secret, parse_database_url
from books_sync.errors import DatabaseUnavailable, SettingsError
from books_sync.settings import get_settings, load_settings

PASSWORD = "tls-test-password"
_AUTH = ["--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"]  # a password over TCP, as on RDS
REQUIRED = os.environ.get("TLS_TEST_POSTGRES") == "required"


# ----------------------------------------------------------------------------------- certificates


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _make_ca(common_name: str, path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _make_server_cert(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, cert_path: Path, key_path: Path
) -> None:
    """A certificate for `localhost` (a DNS name only: no IP address)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)


# ----------------------------------------------------------------------------------- the server


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail where the CI says this PostgreSQL must be there."""
    if REQUIRED:
        pytest.fail(f"TLS_TEST_POSTGRES=required, but {reason}")
    pytest.skip(reason)


def _has_openssl(bindir: Path) -> bool:
    """Whether the build supports TLS, by its pg_config when it has one (else the start will tell)."""
    pg_config = bindir / "pg_config"
    if not pg_config.is_file():
        return True
    configure = subprocess.run([str(pg_config), "--configure"], capture_output=True, text=True, check=False).stdout
    return "--with-openssl" in configure or "--with-ssl=openssl" in configure


def _system_postgres() -> Path | None:
    """The bin folder of a PostgreSQL built with OpenSSL: Debian's (newest first), pg_config's, PATH's."""
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if found:
            candidates.append(Path(found))
    if postgres := shutil.which("postgres"):
        candidates.append(Path(postgres).resolve().parent)
    for bindir in dict.fromkeys(candidates):
        if (bindir / "postgres").is_file() and (bindir / "pg_ctl").is_file() and _has_openssl(bindir):
            return bindir
    return None


def _server_user() -> dict[str, Any]:
    """subprocess arguments that run Postgres unprivileged: as `nobody` when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        _unavailable("running as root and there is no `nobody` user to run PostgreSQL as")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca_file: Path  # the CA that signed the server's certificate
    other_ca_file: Path  # a CA that did not

    def url(self, host: str = "localhost", query: str = "") -> str:
        return f"postgresql://postgres:{PASSWORD}@{host}:{self.port}/postgres" + (f"?{query}" if query else "")

    def secret(self, host: str = "localhost") -> dict[str, Any]:
        return {"username": "postgres", "password": PASSWORD, "host": host, "port": self.port, "dbname": "postgres"}


def _run(command: list[str], as_user: dict[str, Any], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False, **as_user)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    bindir = _system_postgres()
    if bindir is None:
        _unavailable(
            "no system PostgreSQL built with OpenSSL (/usr/lib/postgresql/*/bin, pg_config --bindir, postgres "
            "on PATH); the embedded one has no TLS. On Debian: apt-get install postgresql"
        )
    as_user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="zs-tls-"))
    try:
        ca, ca_key = _make_ca("books-sync test CA", root / "ca.pem")
        _make_ca("some other CA", root / "other-ca.pem")
        _make_server_cert(ca, ca_key, root / "server.crt", root / "server.key")
        (root / "pwfile").write_text(PASSWORD + "\n")
        if as_user:
            for path in [root, *root.iterdir()]:
                os.chown(path, as_user["user"], as_user["group"])
        data = root / "data"
        initdb = _run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={root / 'pwfile'}", *_AUTH],
            as_user,
            root,
        )
        assert initdb.returncode == 0, initdb.stderr[-2000:]
        port = _free_port()
        options = (
            f"-p {port} -c listen_addresses=localhost -c unix_socket_directories={root} -c ssl=on "
            f"-c ssl_cert_file={root / 'server.crt'} -c ssl_key_file={root / 'server.key'}"
        )
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
        started = _run([*pg_ctl, "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start"], as_user, root)
        if started.returncode != 0:
            log = (root / "log").read_text(errors="replace") if (root / "log").exists() else started.stderr
            if "SSL is not supported by this build" in log:
                _unavailable(f"{bindir}/postgres is built without SSL")
            pytest.fail(f"PostgreSQL did not start: {log[-2000:]}")
        try:
            yield TlsServer(port, root / "ca.pem", root / "other-ca.pem")
        finally:
            _run([*pg_ctl, "-m", "fast", "-w", "stop"], as_user, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _uses_tls(url: str) -> bool:
    db = connect(parse_database_url(url))
    try:
        return bool(db.scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
    finally:
        db.close()


def _refusal(url: str) -> str:
    with pytest.raises(SettingsError) as refused:
        connect(parse_database_url(url))
    message = str(refused.value)
    assert "\n" not in message
    assert "Traceback" not in message
    return message


# ----------------------------------------------------------------------------------- DATABASE_URL


def test_verify_full_with_sslrootcert_connects_over_tls(tls_server: TlsServer) -> None:
    url = tls_server.url(query=f"sslmode=verify-full&sslrootcert={tls_server.ca_file}")
    assert _uses_tls(url)
    # Both kinds of connection keep their startup parameters over TLS.
    sync = connect(parse_database_url(url))
    migrating = connect(parse_database_url(url), purpose="migrate")
    try:
        assert sync.scalar("SHOW statement_timeout") == "2min"
        assert migrating.scalar("SHOW statement_timeout") == "0"
        assert migrating.scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
    finally:
        sync.close()
        migrating.close()


def test_sslrootcert_alone_means_verify_full(tls_server: TlsServer) -> None:
    assert _uses_tls(tls_server.url(query=f"sslrootcert={tls_server.ca_file}"))
    message = _refusal(tls_server.url("127.0.0.1", f"sslrootcert={tls_server.ca_file}"))
    assert "IP address mismatch" in message


def test_verify_full_without_sslrootcert_is_one_clear_line(tls_server: TlsServer) -> None:
    message = _refusal(tls_server.url(query="sslmode=verify-full"))
    assert message.startswith(
        f"cannot verify the TLS certificate of the database at postgres@localhost:{tls_server.port}/"
    )
    assert "unable to get local issuer certificate" in message
    assert "the system's CAs" in message
    assert "sslrootcert=" in message
    assert "DB_SSL_ROOT_CERT" in message
    assert "make rds-ca-bundle" in message
    assert PASSWORD not in message


def test_the_command_says_it_in_one_line(tls_server: TlsServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "zoho_sync_cli.cli", "tenant", "list"],
        env={**os.environ, "DATABASE_URL": tls_server.url(query="sslmode=verify-full")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0] == f"database: postgres on localhost:{tls_server.port} as postgres"
    assert lines[1].startswith("zoho-sync: error: cannot verify the TLS certificate of the database at ")
    assert "sslrootcert=" in lines[1]


def test_a_ca_that_did_not_sign_is_refused(tls_server: TlsServer) -> None:
    message = _refusal(tls_server.url(query=f"sslmode=verify-ca&sslrootcert={tls_server.other_ca_file}"))
    assert str(tls_server.other_ca_file) in message
    assert "the system's CAs" not in message  # sslrootcert=<file> trusts that file alone
    # libpq 16's sslrootcert=system: the system's CAs, which do not know this one either.
    assert "the system's CAs" in _refusal(tls_server.url(query="sslrootcert=system"))


def test_wrong_host_name_fails_verify_full_but_passes_verify_ca(tls_server: TlsServer) -> None:
    message = _refusal(tls_server.url("127.0.0.1", f"sslmode=verify-full&sslrootcert={tls_server.ca_file}"))
    assert f"postgres@127.0.0.1:{tls_server.port}/postgres" in message
    assert "IP address mismatch" in message
    assert "sslmode=verify-ca" in message
    assert _uses_tls(tls_server.url("127.0.0.1", f"sslmode=verify-ca&sslrootcert={tls_server.ca_file}"))


def test_require_encrypts_without_a_ca(tls_server: TlsServer) -> None:
    assert _uses_tls(tls_server.url(query="sslmode=require"))
    assert _uses_tls(tls_server.url("127.0.0.1", "sslmode=require"))


def test_prefer_uses_tls_when_offered_and_disable_does_not(tls_server: TlsServer) -> None:
    assert _uses_tls(tls_server.url())  # prefer, the default
    assert _uses_tls(tls_server.url(query="sslmode=allow"))
    assert not _uses_tls(tls_server.url(query="sslmode=disable"))


# ----------------------------------------------------------------------------------- the Lambda's secret


def test_secret_with_db_ssl_root_cert_connects(tls_server: TlsServer) -> None:
    settings = load_settings({"DB_SSL_ROOT_CERT": str(tls_server.ca_file)})
    params = params_from_rds_secret(tls_server.secret(), ca_file=settings.db_ssl_root_cert)
    assert params.ssl_mode == "verify-full"
    db = connect(params)
    try:
        assert db.scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
    finally:
        db.close()


def test_secret_without_the_ca_says_what_to_set(tls_server: TlsServer) -> None:
    with pytest.raises(SettingsError) as refused:
        connect(params_from_rds_secret(tls_server.secret()))
    message = str(refused.value)
    assert "\n" not in message
    assert f"postgres@localhost:{tls_server.port}/postgres" in message
    assert "set DB_SSL_ROOT_CERT" in message
    assert "make rds-ca-bundle" in message
    with pytest.raises(SettingsError, match="the secret's host must be a name the certificate carries"):
        connect(params_from_rds_secret(tls_server.secret("127.0.0.1"), ca_file=tls_server.ca_file))


def test_lambda_path_reads_the_secret_and_the_ca_setting(tls_server: TlsServer, env: pytest.MonkeyPatch) -> None:
    """DB_SECRET_ARN through Secrets Manager (moto) and DB_SSL_ROOT_CERT, as a handler connects."""
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        env.setenv(name, value)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    try:
        with mock_aws():
            import boto3

            arn = boto3.client("secretsmanager").create_secret(
                Name="books-sync-db", SecretString=json.dumps(tls_server.secret())
            )["ARN"]
            env.setenv("DB_SECRET_ARN", arn)
            env.setenv("DB_SSL_ROOT_CERT", str(tls_server.ca_file))
            get_settings.cache_clear()
            db = connect_from_settings()
            try:
                assert db.scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
            finally:
                db.close()
    finally:
        parameters.clear_caches()  # type: ignore[no-untyped-call]


def test_a_server_without_tls_under_require_is_one_line() -> None:
    """A server that answers the TLS request with 'N' (as Postgres with ssl = off does)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def refuse_tls() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(8)  # the SSLRequest
            conn.sendall(b"N")

    server = threading.Thread(target=refuse_tls, daemon=True)
    server.start()
    try:
        with pytest.raises(DatabaseUnavailable) as refused:
            connect(parse_database_url(f"postgresql://app:pw@127.0.0.1:{port}/app?sslmode=require"))
    finally:
        server.join(timeout=5)
        listener.close()
    assert str(refused.value) == (
        f"cannot reach the database at app@127.0.0.1:{port}/app: "
        "the server does not accept TLS, which the sslmode requires (is ssl on there?)"
    )
