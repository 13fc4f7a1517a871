"""The `zoho-sync` command as an operator uses it: each command through its real entry point (a
subprocess), against the test session's Postgres and the Zoho emulator."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from books_sync.db import Database
from books_sync.storage import leases
from tests.support import MakeOrg, Org
from zoho_sync_cli.tables import cell_width

CLI = str(Path(sys.executable).with_name("zoho-sync"))
README = Path(__file__).resolve().parents[2] / "README.md"
LONDON = ZoneInfo("Europe/London")


def zs(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, **(env or {})},  # no terminal: no width
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def add(org: Org, *extra: str) -> subprocess.CompletedProcess[str]:
    return zs(
        "tenant",
        "add",
        "--user-id",
        org.user_id,
        "--organization-id",
        org.organization_id,
        "--refresh-token-stdin",
        *extra,
        stdin=org.refresh_token + "\n",
    )


def with_due_reminder(db: Database, org: Org) -> str:
    """A customer whose invoice's reminder was due an hour ago: due now."""
    an_hour_ago = datetime.now(LONDON) - timedelta(hours=1)
    customer = org.control.create_contact(
        org.organization_id, phone="+44 161 496 0000", billing_country="United Kingdom", payment_reminder_enabled=True
    )
    invoice = org.control.create_invoice(
        org.organization_id, customer["contact_id"], due_date=an_hour_ago.date().isoformat()
    )
    db.run(
        "UPDATE sync_metadata SET reminder_offsets_days = '{0}', reminder_local_hour = :h WHERE user_id = :u",
        h=an_hour_ago.hour,
        u=org.user_id,
    )
    return str(invoice["invoice_number"])


def test_run_prints_only_its_result_and_says_where_it_works(db: Database, db_url: str, make_org: MakeOrg) -> None:
    org = make_org(customers=8, invoices=20)
    with_password = db_url.replace("postgres:@", "postgres:hunter2@")  # trusted locally, never shown
    result = zs("run", "--user-id", org.user_id, "--json", env={"DATABASE_URL": with_password})
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)  # stdout is the result alone: no log or metric line
    assert [(r["user_id"], r["status"]) for r in runs] == [(org.user_id, "ok")]
    assert result.stderr.splitlines()[0].startswith("database: ")
    assert "hunter2" not in result.stderr and '"level"' not in result.stderr  # logs are quiet without -v
    loud = zs("-v", "run", "--user-id", org.user_id)
    assert '"level":"INFO"' in loud.stderr.replace(" ", "")


def test_a_tenant_from_add_to_remove(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5, invoices=10)
    assert add(org).returncode == 0  # the token is checked with one refresh
    assert (
        zs(
            "tenant",
            "update",
            "--user-id",
            org.user_id,
            "--daily-call-budget",
            "250",
            "--reminder-hour",
            "8",
            "--reminder-basis",
            "expected_payment_date",
        ).returncode
        == 0
    )
    row = db.one(
        "SELECT z.daily_call_budget, m.reminder_local_hour, m.reminder_basis FROM zoho_connections z "
        "JOIN sync_metadata m USING (user_id) WHERE user_id = :u",
        u=org.user_id,
    )
    assert row == {"daily_call_budget": 250, "reminder_local_hour": 8, "reminder_basis": "expected_payment_date"}
    assert zs("tenant", "disable", "--user-id", org.user_id).returncode == 0
    skipped = zs("run")
    assert f"{org.user_id}: skipped, disabled" in skipped.stderr
    assert zs("tenant", "enable", "--user-id", org.user_id).returncode == 0
    assert zs("run", "--user-id", org.user_id).returncode == 0
    refused = zs("tenant", "remove", "--user-id", org.user_id)
    assert refused.returncode == 2 and "add --yes" in refused.stderr  # a usage mistake
    assert zs("tenant", "remove", "--user-id", org.user_id, "--yes").returncode == 0
    assert db.scalar("SELECT count(*) FROM customers_cache WHERE user_id = :u", u=org.user_id) == 0
    assert db.scalar("SELECT count(*) FROM zoho_connections WHERE user_id = :u", u=org.user_id) == 0


def test_switching_organization_needs_purging_the_old_cache(db: Database, make_org: MakeOrg) -> None:
    org, other = make_org(customers=4, invoices=4), make_org(customers=3, invoices=3)
    assert zs("run", "--user-id", org.user_id).returncode == 0
    moved = zs(
        "tenant",
        "add",
        "--user-id",
        org.user_id,
        "--organization-id",
        other.organization_id,
        "--refresh-token",
        other.refresh_token,
    )
    assert moved.returncode == 1 and "--purge-cache" in moved.stderr
    assert db.scalar("SELECT count(*) FROM customers_cache WHERE user_id = :u", u=org.user_id) > 0
    purged = zs(
        "tenant",
        "add",
        "--user-id",
        org.user_id,
        "--organization-id",
        other.organization_id,
        "--refresh-token",
        other.refresh_token,
        "--purge-cache",
    )
    assert purged.returncode == 0, purged.stderr
    assert db.scalar("SELECT count(*) FROM customers_cache WHERE user_id = :u", u=org.user_id) == 0
    assert zs("run", "--user-id", org.user_id).returncode == 0
    elsewhere = zs("tenant", "update", "--user-id", org.user_id, "--data-center", "eu")
    assert elsewhere.returncode == 1 and "--purge-cache" in elsewhere.stderr  # the same rule as `tenant add`
    assert db.scalar("SELECT count(*) FROM customers_cache WHERE user_id = :u", u=org.user_id) > 0
    moved_dc = zs("tenant", "update", "--user-id", org.user_id, "--data-center", "eu", "--purge-cache")
    assert moved_dc.returncode == 0, moved_dc.stderr
    assert db.scalar("SELECT count(*) FROM customers_cache WHERE user_id = :u", u=org.user_id) == 0


def test_a_revoked_token_exits_3_and_reactivate_brings_the_tenant_back(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=4, invoices=4)
    org.control.revoke_refresh_token(org.refresh_token)
    org.control.expire_access_tokens()
    revoked = zs("run", "--user-id", org.user_id)
    assert revoked.returncode == 3, revoked.stderr  # nothing failed: the tenant needs re-authorization
    no_traceback(revoked)
    assert '"level"' not in revoked.stderr and revoked.stderr.count("database: ") == 1  # no log line without -v
    again = zs("run")
    assert again.returncode == 3 and f"zoho-sync tenant reactivate --user-id {org.user_id}" in again.stderr
    new_token = f"{org.refresh_token}.2"
    org.control.add_refresh_token(new_token, [org.organization_id])
    back = zs("tenant", "reactivate", "--user-id", org.user_id, "--refresh-token-stdin", stdin=new_token + "\n")
    assert back.returncode == 0, back.stderr
    assert zs("run", "--user-id", org.user_id).returncode == 0


def test_status_and_due_reminders(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=3, invoices=0, country_code="GB")
    number = with_due_reminder(db, org)
    assert zs("run", "--user-id", org.user_id).returncode == 0
    status = json.loads(zs("status", "--user-id", org.user_id, "--json").stdout)[0]
    assert status["connection"] == "active" and status["due_reminders"] == 1
    assert {step: s["status"] for step, s in status["steps"].items()} == {
        "customer-sync": "ok",
        "invoice-sync": "ok",
        "reminders": "ok",
    }
    due = zs("reminders", "due", "--user-id", org.user_id)
    assert number in due.stdout and "+441614960000" in due.stdout
    claimed = json.loads(zs("reminders", "claim", "--user-id", org.user_id).stdout)
    assert [c["invoice_number"] for c in claimed] == [number]
    done = zs(
        "reminders",
        "complete",
        "--reminder-id",
        claimed[0]["reminder_id"],
        "--claim-id",
        claimed[0]["claim_id"],
        "--outcome",
        "sent",
    )
    assert done.stdout.strip() == "sent"
    assert json.loads(zs("reminders", "due", "--user-id", org.user_id, "--json").stdout) == []


def test_a_closed_pipe_a_busy_port_and_no_schema_are_one_line_each(db: Database, empty_db_url: str) -> None:
    reader_gone = subprocess.Popen([CLI, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader_gone.stdout is not None and reader_gone.stderr is not None
    reader_gone.stdout.close()  # as `| head -1` does once it has its line
    assert reader_gone.stderr.read() == "" and reader_gone.wait(timeout=60) == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = zs("emulator", "--port", str(busy.getsockname()[1]))
    no_traceback(result)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "pick another --port" in result.stderr
    empty = zs("run", env={"DATABASE_URL": empty_db_url})
    assert empty.returncode == 1 and "run the migrations first (zoho-sync migrate" in empty.stderr
    assert zs("tenant", "list", env={"DATABASE_URL": empty_db_url}).returncode == 1


def test_version_and_help_name_the_settings() -> None:
    assert re.match(r"zoho-sync \d+\.\d+", zs("--version").stdout)
    top = zs("--help").stdout
    assert "DATABASE_URL" in top and "ZOHO_CLIENT_ID" in top
    emulator = zs("emulator", "--help").stdout
    assert "(default: 8765)" in emulator and "(default: 200)" in emulator
    assert zs("emulator", "--customers", "5").returncode == 1  # an organization's size needs --org
    assert zs("emulator", "--org", "1", "--customers", "-5").returncode == 2


def _masked(text: str) -> str:
    """Times change from run to run: the README shows their shape."""
    return re.sub(r"\b\d{2}:\d{2}\b", "hh:mm", re.sub(r"\d{4}-\d{2}-\d{2}", "YYYY-MM-DD", text))


def readme_examples(db: Database, make_org: MakeOrg) -> str:
    org = make_org("acme", customers=3, invoices=0, country_code="GB", seed=5, daily_call_budget=1000)
    with_due_reminder(db, org)
    zs("run", "--user-id", org.user_id)
    narrow = {"COLUMNS": "120"}  # as on a terminal 120 columns wide
    status = _masked(zs("status", "--user-id", org.user_id, env=narrow).stdout.rstrip())
    due = _masked(zs("reminders", "due", "--user-id", org.user_id, env=narrow).stdout.rstrip())
    return f"```\n$ zoho-sync status --user-id acme\n{status}\n$ zoho-sync reminders due --user-id acme\n{due}\n```"


def test_the_readme_shows_the_real_output_of_status_and_reminders_due(db: Database, make_org: MakeOrg) -> None:
    """Set UPDATE_README_EXAMPLES=1 to rewrite the README's example from this run."""
    example = readme_examples(db, make_org)
    readme = README.read_text(encoding="utf-8")
    start, end = (
        readme.index("<!-- cli-example -->\n") + len("<!-- cli-example -->\n"),
        readme.index("\n<!-- /cli-example -->"),
    )
    if os.environ.get("UPDATE_README_EXAMPLES"):
        README.write_text(readme[:start] + example + readme[end:], encoding="utf-8")
        return
    assert readme[start:end] == example, "the README's example output drifted: run with UPDATE_README_EXAMPLES=1"


def test_an_unreachable_database_is_named_with_the_fix(db: Database) -> None:
    refused = zs("status", env={"DATABASE_URL": "postgresql://sync:hunter2@127.0.0.1:1/books"})
    assert refused.returncode == 1 and "hunter2" not in refused.stderr
    assert "cannot reach the database at sync@127.0.0.1:1/books: nothing listens there" in refused.stderr
    assert refused.stderr.count("\n") == 2  # which database, then the one-line error


def test_ctrl_c_says_what_was_saved_and_the_next_run_resumes(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=30, invoices=1200)
    org.control.configure(latency_seconds=0.05)  # six invoice pages: time to interrupt the step
    running = subprocess.Popen(
        [CLI, "run", "--user-id", org.user_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert running.stderr is not None
    for line in running.stderr:
        if "customer-sync: ok" in line:
            break
    running.send_signal(signal.SIGINT)
    _, rest = running.communicate(timeout=60)
    assert running.returncode == 130
    assert "Traceback" not in rest and "the next `zoho-sync run` resumes where this one stopped" in rest
    org.control.configure(latency_seconds=0)
    assert zs("run", "--user-id", org.user_id).returncode == 0
    assert db.scalar("SELECT count(*) FROM invoices_cache WHERE user_id = :u", u=org.user_id) == 1200


def test_a_reader_that_leaves_early_ends_every_command_quietly(db: Database, make_org: MakeOrg) -> None:
    """`zoho-sync ... | head -1`: once the reader has gone, the command ends with exit 0 and says nothing
    (issue 26: `reminders due --json | head -1` ended with `error: [Errno 32] Broken pipe`, exit 1)."""
    org = make_org(customers=30, invoices=60)
    assert zs("run", "--user-id", org.user_id).returncode == 0
    commands = [
        ["reminders", "due", "--json"],
        ["reminders", "due"],
        ["status", "--json"],
        ["status"],
        ["tenant", "list", "--json"],
        ["tenant", "list"],
    ]
    for command in commands:
        process = subprocess.Popen([CLI, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader gone before the command writes
        stderr = process.stderr.read()  # the line naming the database, nothing else
        assert process.wait(timeout=120) == 0 and "error" not in stderr and "Traceback" not in stderr, command


def test_tenant_add_checks_the_token_and_the_organization_before_storing_anything(
    db: Database, make_org: MakeOrg
) -> None:
    """Issue 26: a token Zoho refuses, or an organization it does not reach (code 6041), creates nothing; a
    reconnection with a refused token leaves the tenant as it was."""
    org = make_org(customers=3, invoices=3)
    db.run("DELETE FROM users WHERE id = :u", u=org.user_id)  # make_org connected it: start from none
    org.control.add_refresh_token("1000.refresh.revoked", [org.organization_id])
    org.control.revoke_refresh_token("1000.refresh.revoked")
    refused = zs("tenant", "add", "--user-id", org.user_id, "--organization-id", org.organization_id,
                 "--refresh-token-stdin", stdin="1000.refresh.revoked\n")  # fmt: skip
    no_traceback(refused)
    assert refused.returncode == 1 and "Zoho refused the refresh token" in refused.stderr
    wrong_org = zs("tenant", "add", "--user-id", org.user_id, "--organization-id", "99999999999",
                   "--refresh-token-stdin", stdin=org.refresh_token + "\n")  # fmt: skip
    assert wrong_org.returncode == 1 and "99999999999 is not one this refresh token reaches" in wrong_org.stderr
    assert db.scalar("SELECT count(*) FROM users WHERE id = :u", u=org.user_id) == 0  # nothing created

    assert add(org).returncode == 0
    before = db.one("SELECT refresh_token, status FROM zoho_connections WHERE user_id = :u", u=org.user_id)
    again = zs("tenant", "add", "--user-id", org.user_id, "--organization-id", org.organization_id,
               "--refresh-token-stdin", stdin="1000.refresh.revoked\n")  # fmt: skip
    assert again.returncode == 1
    assert db.one("SELECT refresh_token, status FROM zoho_connections WHERE user_id = :u", u=org.user_id) == before


def test_reactivate_without_a_token_checks_the_stored_one_with_a_real_refresh(db: Database, make_org: MakeOrg) -> None:
    """Issue 26: with an access token still cached, `reactivate` reported a revoked refresh token as working."""
    org = make_org(customers=3, invoices=3)
    assert zs("run", "--user-id", org.user_id).returncode == 0  # an access token valid for an hour is stored
    org.control.revoke_refresh_token(org.refresh_token)
    db.run("UPDATE zoho_connections SET status = 'needs_reauth' WHERE user_id = :u", u=org.user_id)
    result = zs("tenant", "reactivate", "--user-id", org.user_id)
    no_traceback(result)
    assert result.returncode == 1 and "the refresh token does not work" in result.stderr
    assert db.scalar("SELECT status FROM zoho_connections WHERE user_id = :u", u=org.user_id) == "needs_reauth"


def test_usage_mistakes_exit_2_and_no_raw_database_error_reaches_the_user(db: Database, make_org: MakeOrg) -> None:
    """Issue 26: values the database cannot hold are refused by the command line, naming the option; usage
    mistakes exit 2 as documented; an unknown tenant is an error for the reminders commands too."""
    org = make_org(customers=3, invoices=3)
    mistakes = [
        ["tenant", "update", "--user-id", org.user_id],  # nothing to change
        ["tenant", "remove", "--user-id", org.user_id],  # without --yes
        ["tenant", "update", "--user-id", org.user_id, "--daily-call-budget", "99999999999"],
        ["tenant", "update", "--user-id", org.user_id, "--reminder-grace-hours", "99999999999"],
        ["tenant", "update", "--user-id", org.user_id, "--reminder-offsets", "99999999999"],
        ["tenant", "update", "--user-id", org.user_id, "--reminder-repeat-days", "99999999999"],
        ["reminders", "claim", "--lease-seconds", "99999999999999"],
        ["reminders", "claim", "--limit", "0"],
        ["reminders", "due", "--limit", "99999999999999"],
        ["reminders", "complete", "--reminder-id", "not-a-uuid", "--claim-id", str(uuid.uuid4()), "--outcome", "sent"],
    ]
    for command in mistakes:
        result = zs(*command)
        no_traceback(result)
        assert result.returncode == 2, (command, result.stderr)
        for raw in ("invalid input syntax", "out of range", "DatabaseError"):
            assert raw not in result.stderr, (command, result.stderr)
    for command in (["reminders", "due", "--user-id", "ghost"], ["reminders", "claim", "--user-id", "ghost"]):
        unknown = zs(*command)
        assert unknown.returncode == 1 and "unknown tenant 'ghost'" in unknown.stderr, command


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_run_stopped_by_a_signal_says_so_and_status_tells_the_truth(
    db: Database, make_org: MakeOrg, signum: signal.Signals
) -> None:
    """Issue 26: `run` killed by SIGTERM or SIGHUP (a closed terminal) exited 143/129 without a word, and
    `status` then showed the step `running` though nothing ran."""
    org = make_org(customers=400, invoices=400)
    org.control.configure(latency_seconds=0.05)
    try:
        process = subprocess.Popen([CLI, "run", "--user-id", org.user_id], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while not db.scalar("SELECT count(*) FROM step_runs WHERE user_id = :u AND status = 'running'", u=org.user_id):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        org.control.configure(latency_seconds=0)
    assert process.returncode == 128 + signum
    assert f"interrupted ({signum.name})" in stderr and "Traceback" not in stderr
    assert not db.scalar("SELECT count(*) FROM step_runs WHERE user_id = :u AND status = 'running'", u=org.user_id)
    status = json.loads(zs("status", "--user-id", org.user_id, "--json").stdout)
    (tenant,) = status["tenants"] if isinstance(status, dict) else status
    assert "interrupted" in json.dumps(tenant) and "next run" in str(tenant.get("resumes"))
    assert zs("run", "--user-id", org.user_id).returncode == 0  # the lease is free at once: the process is gone


def test_runs_table_says_why_a_tenant_was_skipped_and_reports_reauthorization_not_failure(
    db: Database, make_org: MakeOrg
) -> None:
    """Issue 26: a tenant another run holds showed no reason (and the organization's calls, 9, as this run's);
    one needing re-authorization showed `failed (...)` and no reactivate hint."""
    held, revoked = make_org(customers=3, invoices=3), make_org(customers=3, invoices=3)
    holder = "arn:aws:states:us-east-1:123456789012:execution:zoho-books-sync-sync:elsewhere"
    assert leases.take(db, held.user_id, holder, "invoice-sync", 600) is None
    skipped = zs("run", "--user-id", held.user_id)
    (row,) = [line for line in skipped.stdout.splitlines() if line.startswith(held.user_id)]
    assert f"skipped (another run works on it: {holder})" in row
    assert re.search(r"\s0\s+skipped", row), row  # this run's Zoho calls: none
    assert "1 tenant in" in skipped.stderr

    db.run("UPDATE zoho_connections SET access_token = NULL WHERE user_id = :u", u=revoked.user_id)
    revoked.control.revoke_refresh_token(revoked.refresh_token)
    result = zs("run", "--user-id", revoked.user_id)
    assert result.returncode == 3
    (row,) = [line for line in result.stdout.splitlines() if line.startswith(revoked.user_id)]
    assert row.rstrip().endswith("needs re-authorization") and "failed" not in row
    assert f"zoho-sync tenant reactivate --user-id {revoked.user_id} --refresh-token-stdin" in result.stderr


def test_a_failed_tenants_summary_counts_the_calls_it_made(db: Database, make_org: MakeOrg) -> None:
    """Issue 26: `apiCalls: 0` after 2 calls. The customer step reads the organization, then its contacts list
    fails: both calls are counted, in the run's result and in `step_runs`."""
    org = make_org(customers=3, invoices=3)
    org.control.inject("contacts.list", "invalid_id", count=10, organization_id=org.organization_id)
    result = zs("run", "--user-id", org.user_id, "--json")
    assert result.returncode == 1
    (run,) = json.loads(result.stdout)
    assert run["status"] == "failed" and run["api_calls"] >= 2, run
    recorded = db.scalar("SELECT api_calls FROM step_runs WHERE user_id = :u AND step = 'customer-sync'", u=org.user_id)
    assert recorded == run["api_calls"]
    org.control.clear_faults()


def test_an_unreachable_zoho_is_named_and_a_refused_connection_gives_up_at_once(
    db: Database, make_org: MakeOrg
) -> None:
    """Issue 26: the error named neither where nor what to check, and a refused connection took 22 s of retries."""
    org = make_org(customers=3, invoices=3)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens once it is closed
    production_backoff = {"ZOHO_BACKOFF_BASE_SECONDS": "1", "ZOHO_BACKOFF_MAX_SECONDS": "10", "ZOHO_MAX_RETRIES": "3"}
    started = time.monotonic()
    result = zs("run", "--user-id", org.user_id, "--json",
                env={"ZOHO_API_BASE_URL": f"http://127.0.0.1:{port}/books/v3", **production_backoff})  # fmt: skip
    took = time.monotonic() - started
    (run,) = json.loads(result.stdout)
    assert result.returncode == 1 and f"connection refused at http://127.0.0.1:{port}" in run["error"]
    assert "ZOHO_API_BASE_URL" in run["error"] and "attempts" not in run["error"]
    assert took < 15, took  # no backoff between refusals (1 + 2 + 4 s at least before)


def test_without_a_terminal_a_long_step_says_it_still_works_at_least_every_10_seconds(
    db: Database, make_org: MakeOrg
) -> None:
    """Issue 26: a first run without a terminal printed nothing for minutes. One Zoho answer takes 12 s here."""
    org = make_org(customers=3, invoices=3)
    org.control.configure(hang_seconds=12.0)
    org.control.inject("contacts.list", "hang", count=1, organization_id=org.organization_id)
    try:
        result = zs("run", "--user-id", org.user_id, env={"ZOHO_READ_TIMEOUT_SECONDS": "20", "ZOHO_MAX_RETRIES": "1"})
    finally:
        org.control.configure(hang_seconds=3.0)
    assert result.returncode == 0, result.stderr
    assert re.search(rf"{org.user_id}: starting, still working \(1\d s so far\)", result.stderr), result.stderr


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return {str(k) for k in value} | {k for item in value.values() for k in _keys(item)}
    if isinstance(value, list):
        return {k for item in value for k in _keys(item)}
    return set()


def test_every_json_output_has_one_key_style(db: Database, make_org: MakeOrg) -> None:
    """Issue 26 item 7: snake_case keys in every `--json` output, as the sender's documented fields (which
    keep their names); `run`, `freshen`, `tenant list` and `status`'s step summaries were camelCase."""
    org = make_org(customers=20, invoices=40)
    with_due_reminder(db, org)
    outputs = {
        "run": zs("run", "--user-id", org.user_id, "--json"),
        "freshen": zs("freshen", "--user-id", org.user_id, "--json"),
        "status": zs("status", "--user-id", org.user_id, "--json"),
        "tenant list": zs("tenant", "list", "--json"),
        "reminders due": zs("reminders", "due", "--user-id", org.user_id, "--json"),
        "reminders due --waiting": zs("reminders", "due", "--waiting", "--json"),
        "reminders claim": zs("reminders", "claim", "--user-id", org.user_id, "--limit", "1"),
    }
    for name, result in outputs.items():
        keys = _keys(json.loads(result.stdout))
        assert keys or name == "reminders due --waiting", name  # nothing waits: confirmed by the freshen
        field_names = {k for k in keys if re.fullmatch(r"[A-Za-z0-9_]+", k)}  # not data keys ("customer-sync")
        assert all(re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", k) for k in field_names), (name, sorted(field_names))
    claimed = json.loads(outputs["reminders claim"].stdout)[0]  # the sender's documented fields, unchanged
    assert {"reminder_id", "claim_id", "phone", "send_at_utc", "invoice_number", "balance"} <= set(claimed)
    assert json.loads(outputs["run"].stdout)[0]["api_calls"] >= 0


def test_tables_fit_the_terminal_and_amounts_have_their_currencys_decimals(db: Database, make_org: MakeOrg) -> None:
    """Issue 26 item 8: `reminders due` and `status` were up to 270 columns wide (cut by the terminal mid-word),
    and a balance showed as `4424.3 INR`."""
    org = make_org(customers=3, invoices=0, country_code="GB")
    invoice = with_due_reminder(db, org)
    (listed,) = [i for i in org.control.snapshot(org.organization_id)["invoices"] if i["invoice_number"] == invoice]
    org.control.update_invoice(org.organization_id, listed["invoice_id"], balance=4424.3, total=4424.3)
    name = "東京商事株式会社 Tokyo Trading Company"
    org.control.update_contact(org.organization_id, listed["customer_id"], contact_name=name)
    assert zs("run", "--user-id", org.user_id).returncode == 0
    for command in (["reminders", "due", "--user-id", org.user_id], ["status", "--user-id", org.user_id]):
        shown = zs(*command, env={"COLUMNS": "72"}).stdout.splitlines()
        assert len(shown) > 2 and max(cell_width(line) for line in shown) <= 72, "\n".join(shown)
    due = zs("reminders", "due", "--user-id", org.user_id).stdout
    assert "4,424.30 GBP" in due and name in due, due  # without a width: one line a row


def test_progress_says_which_tenant_of_how_many_and_the_details_left(db: Database, make_org: MakeOrg) -> None:
    """Issue 26 item 8: progress shows the total and the time left where there is one: the tenants, and the
    details queue (Zoho's lists give no total: a page's line says so)."""
    first, second = make_org(customers=2, invoices=2), make_org(customers=40, invoices=80)
    second.control.configure(latency_seconds=0.3)  # each Zoho answer: about 12 s of details for the second tenant
    try:
        result = zs("run", "--user-id", first.user_id, "--user-id", second.user_id)
    finally:
        second.control.configure(latency_seconds=0)
    assert result.returncode == 0, result.stderr
    found = re.search(
        rf"{second.user_id} \(2 of 2\) invoice-sync: (\d+) of (\d+) details, about \d+ s left, \d+ calls", result.stderr
    )
    assert found and 0 < int(found[1]) < int(found[2]) == 40, result.stderr
