"""The command line: tenants, and clear one-line errors with a non-zero exit code."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from books_sync.db import Database
from books_sync.storage import tenants as tenant_store
from books_sync.zoho.auth import AccessToken
from zoho_sync_cli.cli import main


def test_tenant_add_list_and_reconnect(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "tenant",
                "add",
                "--user-id",
                "u1",
                "--organization-id",
                "111",
                "--refresh-token",
                "1000.secret-a",
                "--email",
                "owner@example.com",
                "--data-center",
                "in",
                "--no-verify",
            ]
        )
        == 0
    )
    assert "added tenant u1" in capsys.readouterr().out
    store = tenant_store.PostgresTokenStore(db, "u1")
    with store.locked():
        store.save(AccessToken("old-access", datetime.now(UTC) + timedelta(hours=1)))
    db.run("UPDATE zoho_connections SET status = 'needs_reauth' WHERE user_id = 'u1'")

    assert (
        main(
            [
                "tenant",
                "add",
                "--user-id",
                "u1",
                "--organization-id",
                "111",
                "--refresh-token",
                "1000.secret-b",
                "--no-verify",
            ]
        )
        == 0
    )
    assert "updated tenant u1" in capsys.readouterr().out
    row = db.one("SELECT refresh_token, access_token, status, data_center FROM zoho_connections WHERE user_id = 'u1'")
    assert row is not None and row["refresh_token"].startswith("local:v2:")  # stored encrypted
    with store.locked() as tokens:
        assert (tokens.refresh_token, tokens.access_token) == ("1000.secret-b", None)
    assert {k: row[k] for k in ("access_token", "status", "data_center")} == {
        "access_token": None,
        "status": "active",
        "data_center": "in",
    }
    assert db.scalar("SELECT email FROM users WHERE id = 'u1'") == "owner@example.com"
    assert db.scalar("SELECT count(*) FROM sync_metadata WHERE user_id = 'u1'") == 1

    assert main(["tenant", "list"]) == 0
    out = capsys.readouterr().out
    assert "u1" in out
    assert "111" in out
    assert "active" in out
    assert "secret" not in out


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zoho_sync_cli.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u@h/db", "DATABASE_URL: expected a postgresql:// URL"),
        ("postgresql://u@host:notaport/db", "DATABASE_URL: not a valid URL"),
        ("postgresql://u@/db?host=relative/dir", "DATABASE_URL: ?host= must be a socket directory"),
        ("postgresql://u@h/db?sslmode=sometimes", "DATABASE_URL: unknown sslmode"),
    ],
)
def test_bad_database_url_is_one_clear_line(url: str, expected: str) -> None:
    result = _cli("migrate", env={"DATABASE_URL": url})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"zoho-sync: error: {result.stderr.split('error: ', 1)[1].strip()}"]
    assert expected in result.stderr


def test_unreachable_database_is_one_clear_line() -> None:
    port = _free_port()
    result = _cli("tenant", "list", env={"DATABASE_URL": f"postgresql://app:hunter2@127.0.0.1:{port}/app"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"database: app on 127.0.0.1:{port} as app",
        f"zoho-sync: error: cannot reach the database at app@127.0.0.1:{port}/app: nothing listens there "
        "(connection refused) (is it running, and are DATABASE_URL's host and port right?)",
    ]
    assert "hunter2" not in result.stderr


def test_bad_setting_names_the_variable() -> None:
    result = _cli("migrate", env={"DATABASE_URL": "postgresql://u@h/db", "ZOHO_RATE_LIMIT_CALLS": "lots"})
    assert result.returncode == 1
    assert "ZOHO_RATE_LIMIT_CALLS: expected a positive integer, got 'lots'" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["tenant", "add", "--organization-id", "1", "--refresh-token", "x"], "required: --user-id"),
        (
            [
                "tenant",
                "add",
                "--user-id",
                "u",
                "--organization-id",
                "1",
                "--refresh-token",
                "x",
                "--data-center",
                "mars",
            ],
            "invalid choice: 'mars'",
        ),
        (["tenant", "add", "--user-id", " ", "--organization-id", "1"], "--user-id: ' ' is not a valid user id"),
        (["tenant", "add", "--user-id", "u1\n", "--organization-id", "1"], "is not a valid user id"),
        (["migrate", "--to", "two"], "--to: invalid int value"),
    ],
)
def test_bad_arguments_exit_2_with_usage(args: list[str], expected: str) -> None:
    result = _cli(*args, env={"DATABASE_URL": "postgresql://u@h/db"})
    assert result.returncode == 2
    assert expected in result.stderr


@pytest.mark.parametrize(
    "command", [[], ["migrate"], ["tenant"], ["tenant", "add"], ["tenant", "list"], ["emulator"], ["demo"]]
)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    assert "usage: zoho-sync" in capsys.readouterr().out
