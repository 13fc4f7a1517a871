"""sslmode and sslrootcert in DATABASE_URL, and DB_SSL_ROOT_CERT, read as libpq reads them (see
tests/integration/test_tls.py for what each does against a real server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from books_sync.db import connect, params_from_rds_secret, parse_database_url, resolve_connect_params
from books_sync.errors import SettingsError
from books_sync.settings import RDS_CA_BUNDLE, load_settings

URL = "postgresql://app:pw@db.example.com:5432/books"


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n(not read when parsing)\n-----END CERTIFICATE-----\n")
    return path


@pytest.mark.parametrize(
    ("query", "mode", "tls"),
    [
        ("", "prefer", False),  # libpq's default: TLS if the server offers it, unverified
        ("?sslmode=disable", "disable", False),
        ("?sslmode=allow", "prefer", False),
        ("?sslmode=prefer", "prefer", False),
        ("?sslmode=require", "require", True),
        ("?sslmode=verify-ca", "verify-ca", True),
        ("?sslmode=verify-full", "verify-full", True),
    ],
)
def test_sslmode(query: str, mode: str, tls: bool) -> None:
    params = parse_database_url(URL + query)
    assert (params.ssl_mode, params.tls, params.ca_file, params.system_cas) == (mode, tls, None, True)


def test_sslrootcert_names_the_only_ca_file(ca_file: Path) -> None:
    full = parse_database_url(f"{URL}?sslmode=verify-full&sslrootcert={ca_file}")
    assert (full.ssl_mode, full.ca_file, full.system_cas) == ("verify-full", ca_file, False)
    # Alone, it means verify-full; with require, the chain is verified (libpq's verify-ca).
    assert parse_database_url(f"{URL}?sslrootcert={ca_file}").ssl_mode == "verify-full"
    assert parse_database_url(f"{URL}?sslmode=require&sslrootcert={ca_file}").ssl_mode == "verify-ca"
    assert parse_database_url(f"{URL}?sslmode=verify-ca&sslrootcert={ca_file}").ssl_mode == "verify-ca"


def test_sslrootcert_system_is_the_system_store_and_verify_full() -> None:
    params = parse_database_url(f"{URL}?sslrootcert=system")
    assert (params.ssl_mode, params.ca_file, params.system_cas) == ("verify-full", None, True)
    with pytest.raises(
        SettingsError, match="DATABASE_URL: sslrootcert=system needs sslmode=verify-full, not verify-ca"
    ):
        parse_database_url(f"{URL}?sslmode=verify-ca&sslrootcert=system")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?sslmode=sometimes", "DATABASE_URL: unknown sslmode 'sometimes'"),
        ("?sslmode=verify-full&sslrootcert=/no/such/ca.pem", "DATABASE_URL: sslrootcert '/no/such/ca.pem' is not a"),
        ("?sslmode=prefer&sslrootcert={ca}", "DATABASE_URL: sslrootcert is only used with sslmode=verify-full"),
        ("?sslmode=disable&sslrootcert={ca}", "DATABASE_URL: sslrootcert is only used with sslmode=verify-full"),
    ],
)
def test_bad_tls_options_name_the_setting(ca_file: Path, query: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_database_url(URL + query.format(ca=ca_file))


def test_a_unix_socket_never_uses_tls() -> None:
    params = parse_database_url("postgresql://app@/books?host=/tmp/pg&sslmode=require")
    assert params.unix_sock == "/tmp/pg/.s.PGSQL.5432"
    assert params.ssl_mode == "disable"
    with pytest.raises(SettingsError, match="unknown sslmode"):
        parse_database_url("postgresql://app@/books?host=/tmp/pg&sslmode=on")


def test_db_ssl_root_cert_is_the_default_ca_file(ca_file: Path, tmp_path: Path) -> None:
    settings = load_settings({"DATABASE_URL": f"{URL}?sslmode=verify-full", "DB_SSL_ROOT_CERT": str(ca_file)})
    params = resolve_connect_params(settings)
    assert (params.ca_file, params.system_cas) == (ca_file, True)  # trusted with the system's CAs
    # The URL's own sslrootcert wins.
    other = tmp_path / "other.pem"
    other.write_text(ca_file.read_text())
    settings = load_settings({"DATABASE_URL": f"{URL}?sslrootcert={other}", "DB_SSL_ROOT_CERT": str(ca_file)})
    assert resolve_connect_params(settings).ca_file == other


def test_db_ssl_root_cert_must_be_a_readable_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"DB_SSL_ROOT_CERT: expected a readable PEM file, got '/no/such\.pem'"):
        load_settings({"DB_SSL_ROOT_CERT": "/no/such.pem"})
    with pytest.raises(SettingsError, match="DB_SSL_ROOT_CERT: expected a readable PEM file"):
        load_settings({"DB_SSL_ROOT_CERT": str(tmp_path)})


def test_db_ssl_root_cert_defaults_to_the_shipped_rds_bundle() -> None:
    assert RDS_CA_BUNDLE.parts[-3:] == ("books_sync", "certs", "rds-global-bundle.pem")
    assert load_settings({}).db_ssl_root_cert == (RDS_CA_BUNDLE if RDS_CA_BUNDLE.is_file() else None)


def test_rds_secret_verifies_the_host(ca_file: Path) -> None:
    secret = {"username": "app", "password": "pw", "host": "x.rds.amazonaws.com", "port": 5432, "dbname": "books"}
    params = params_from_rds_secret(secret, ca_file=ca_file)
    assert (params.ssl_mode, params.tls, params.ca_file, params.system_cas) == ("verify-full", True, ca_file, True)
    assert params.source == "DB_SECRET_ARN"


def test_a_ca_file_that_holds_no_certificate_names_its_setting(tmp_path: Path) -> None:
    """Refused before any connection is tried (db.example.com is never looked up)."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(
        SettingsError, match=r"^DATABASE_URL's sslrootcert: cannot read CA certificates from .*junk\.pem"
    ):
        connect(parse_database_url(f"{URL}?sslmode=verify-full&sslrootcert={junk}"))
    with pytest.raises(SettingsError, match=r"^DB_SSL_ROOT_CERT: cannot read CA certificates from .*junk\.pem"):
        connect(parse_database_url(f"{URL}?sslmode=verify-ca", default_ca_file=junk))
    secret = {"username": "app", "password": "pw", "host": "x.rds.amazonaws.com"}
    with pytest.raises(SettingsError, match=r"^DB_SSL_ROOT_CERT: cannot read CA certificates"):
        connect(params_from_rds_secret(secret, ca_file=junk))
