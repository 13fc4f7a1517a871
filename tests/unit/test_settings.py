from __future__ import annotations

import base64
from pathlib import Path

import pytest

from books_sync.db import params_from_rds_secret, parse_database_url
from books_sync.errors import SettingsError
from books_sync.settings import SETTINGS, Setting, load_settings, markdown_table


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.database_url is None
    assert settings.zoho_rate_limit_calls == 100
    assert settings.zoho_rate_limit_window_seconds == 60.0
    assert settings.embedded_pg_dir.parts[-2:] == (".data", "postgres")


def test_values_are_parsed_and_typed() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": " postgresql://a@b/c ",
            "ZOHO_RATE_LIMIT_CALLS": "50",
            "ZOHO_BACKOFF_BASE_SECONDS": "0.01",
            "MAX_STEP_ROUNDS": "3",
            "EMBEDDED_PG_DIR": "/tmp/x",
            "ZOHO_API_BASE_URL": "http://127.0.0.1:9/books/v3/",
        }
    )
    assert settings.database_url == "postgresql://a@b/c"
    assert settings.zoho_rate_limit_calls == 50
    assert settings.zoho_backoff_base_seconds == 0.01
    assert settings.max_step_rounds == 3
    assert settings.embedded_pg_dir == Path("/tmp/x")
    assert settings.zoho_api_base_url == "http://127.0.0.1:9/books/v3"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ZOHO_RATE_LIMIT_CALLS", "0", "ZOHO_RATE_LIMIT_CALLS: expected a positive integer, got '0'"),
        ("ZOHO_READ_TIMEOUT_SECONDS", "-1", "ZOHO_READ_TIMEOUT_SECONDS: expected a positive number of seconds"),
        ("ZOHO_BACKOFF_MAX_SECONDS", "nan", "ZOHO_BACKOFF_MAX_SECONDS: expected a number of seconds >= 0"),
        ("MAX_STEP_ROUNDS", "0", "MAX_STEP_ROUNDS: expected a positive integer, got '0'"),
        ("ZOHO_API_BASE_URL", "ftp://x", "ZOHO_API_BASE_URL: expected an http(s) URL"),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings({name: value})


def test_database_url_forms() -> None:
    tcp = parse_database_url("postgresql://app:p%40ss@db.example.com:6543/books?sslmode=require")
    assert (tcp.user, tcp.password, tcp.host, tcp.port, tcp.database, tcp.tls) == (
        "app",
        "p@ss",
        "db.example.com",
        6543,
        "books",
        True,
    )
    assert tcp.unix_sock is None
    assert "p@ss" not in tcp.describe()
    sock = parse_database_url("postgresql://postgres:@/postgres?host=/tmp/pg")
    assert sock.unix_sock == "/tmp/pg/.s.PGSQL.5432"
    assert sock.password is None


def test_rds_secret() -> None:
    params = params_from_rds_secret(
        {
            "username": "app",
            "password": "pw",
            "host": "x.rds.amazonaws.com",
            "port": 5432,
            "dbname": "books",
            "engine": "postgres",
        }
    )
    assert params.tls is True
    assert params.database == "books"
    with pytest.raises(SettingsError, match="DB_SECRET_ARN: the secret lacks password"):
        params_from_rds_secret({"username": "app", "host": "h"})


def test_an_rds_managed_master_secret_takes_host_port_and_database_from_settings() -> None:
    """RDS manages the master user's secret with only `username` and `password` in it."""
    managed = {"username": "postgres", "password": "pw"}
    with pytest.raises(SettingsError, match=r"the secret lacks host \(or DB_HOST\)"):
        params_from_rds_secret(managed)
    settings = load_settings(
        {"DB_HOST": "books.proxy-abc.eu-west-1.rds.amazonaws.com", "DB_PORT": "6432", "DB_NAME": "books"}
    )
    params = params_from_rds_secret(managed, settings=settings)
    assert (params.host, params.port, params.database, params.ssl_mode) == (
        "books.proxy-abc.eu-west-1.rds.amazonaws.com",
        6432,
        "books",
        "verify-full",
    )
    full = {**managed, "host": "books.abc.eu-west-1.rds.amazonaws.com", "port": 5432, "dbname": "old"}
    assert params_from_rds_secret(full, settings=settings).host.startswith(
        "books.proxy-"
    )  # the proxy, over the instance
    assert params_from_rds_secret(full).host == "books.abc.eu-west-1.rds.amazonaws.com"


def test_readme_configuration_table_is_the_settings_table() -> None:
    """The README's table is `markdown_table()` to the letter: a new setting cannot go undocumented."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "update the README's configuration table: print(markdown_table())"


MARKER = "S3CRET-marker-7f3a"


def holds_a_secret(env: str) -> bool:
    """What the name says: a secret, a key, a password or a URL that may carry one (not an ARN, id or path)."""
    named = any(word in env for word in ("SECRET", "PASSWORD", "TOKEN_KEY")) or env == "DATABASE_URL"
    return named and not env.endswith(("_ARN", "_KEY_ID", "_KEY_FILE"))


MALFORMED = {  # a value each setting refuses, carrying the marker
    "ZOHO_CLIENT_SECRETS": '{"eu": "' + MARKER + '"',
    "ZOHO_SYNC_TOKEN_KEY": MARKER,
    "DATABASE_URL": f"postgresql://user:{MARKER}/x@host/db",  # an unencoded '/' in the password
}


def refuse(env: str, value: str) -> None:
    settings = load_settings({env: value})
    if env == "DATABASE_URL":  # read as text; refused where it is parsed
        parse_database_url(str(settings.database_url))


@pytest.mark.parametrize("setting", [s for s in SETTINGS if holds_a_secret(s.env)], ids=lambda s: s.env)
def test_every_setting_holding_a_secret_is_marked_and_never_quoted(setting: Setting) -> None:
    """A walk over the settings table: each secret is marked, refused without being quoted, and kept out
    of the settings' repr (which a traceback or a debug log may print)."""
    assert setting.secret, f"{setting.env} holds a secret: mark it secret=True"
    malformed = MALFORMED.get(setting.env)
    if malformed is not None:
        with pytest.raises(SettingsError, match=setting.env) as caught:
            refuse(setting.env, malformed)
        assert MARKER not in str(caught.value) and MARKER.lower() not in str(caught.value).lower()
        assert "S3CRET" not in str(caught.value)
    else:
        assert setting.parse(MARKER) is not None  # any text is accepted: nothing to refuse, nothing to quote
    valid = {"ZOHO_SYNC_TOKEN_KEY": base64.b64encode(MARKER.encode().ljust(32, b"x")).decode()}
    value = valid.get(setting.env, {"ZOHO_CLIENT_SECRETS": '{"eu": "' + MARKER + '"}'}.get(setting.env, MARKER))
    assert MARKER not in repr(load_settings({setting.env: value}))


def test_the_walk_finds_the_secrets_we_know() -> None:
    found = {s.env for s in SETTINGS if holds_a_secret(s.env)}
    assert found == {"DATABASE_URL", "ZOHO_CLIENT_SECRET", "ZOHO_CLIENT_SECRETS", "ZOHO_SYNC_TOKEN_KEY"}
    assert {s.env for s in SETTINGS if s.secret} == found  # and nothing else is hidden from an error
