"""Who works on a tenant: lease rows instead of session-level advisory locks (RDS-Proxy-safe).

An execution takes the tenant's lease with its first step, keeps it between its steps and gives it
back after the last; another execution (or `zoho-sync run`) meanwhile skips the tenant.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from books_sync.db import Database
from books_sync.errors import ZohoUnavailable
from books_sync.storage import leases
from tests.support import MakeOrg, call_step
from zoho_sync_cli import pipeline
from zoho_sync_cli.pipeline import RUN_HOLDER, run_tenant

ROOT = Path(__file__).resolve().parents[2]
FIRST = "arn:aws:states:us-east-1:123456789012:execution:zoho-books-sync-sync:first"
SECOND = "arn:aws:states:us-east-1:123456789012:execution:zoho-books-sync-sync:second"


def holder(db: Database, user_id: str) -> str | None:
    lease = leases.current(db, user_id)
    return lease.holder if lease else None


def test_an_execution_holds_the_tenant_from_its_first_step_to_its_last(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5, invoices=8)
    assert call_step("customer-sync", org, executionId=FIRST)["status"] == "ok"
    assert holder(db, org.user_id) == FIRST  # kept between the steps
    assert call_step("invoice-sync", org, executionId=SECOND)["status"] == "skipped"
    assert call_step("customer-sync", org, executionId=SECOND)["status"] == "skipped"
    assert call_step("invoice-sync", org, executionId=FIRST)["status"] == "ok"
    assert call_step("reminders", org, executionId=SECOND)["status"] == "skipped"
    assert call_step("reminders", org, executionId=FIRST)["status"] == "ok"
    assert holder(db, org.user_id) is None  # the last step gave it back
    assert call_step("customer-sync", org, executionId=SECOND)["status"] == "ok"


def test_a_call_without_an_execution_holds_it_for_that_call_only(db: Database, make_org: MakeOrg) -> None:
    """`sam local invoke` of one step, then of the next: neither blocks the other."""
    org = make_org(customers=5, invoices=8)
    assert call_step("customer-sync", org)["status"] == "ok"
    assert holder(db, org.user_id) is None
    assert call_step("invoice-sync", org)["status"] == "ok"


def test_a_failed_execution_keeps_the_tenant_until_its_lease_expires(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5, invoices=8)
    org.control.inject("invoices.list", "500", count=50, organization_id=org.organization_id)
    call_step("customer-sync", org, executionId=FIRST)
    with pytest.raises(ZohoUnavailable, match=r"invoices\.list: gave up"):
        call_step("invoice-sync", org, executionId=FIRST)
    org.control.clear_faults()
    lease = leases.current(db, org.user_id)
    assert lease is not None and lease.holder == FIRST and lease.step == "invoice-sync"
    assert call_step("customer-sync", org, executionId=SECOND)["status"] == "skipped"
    db.run("UPDATE tenant_leases SET expires_at = now() - interval '1 second'")  # its Lambda's time and grace ran out
    assert call_step("customer-sync", org, executionId=SECOND)["status"] == "ok"
    assert holder(db, org.user_id) == SECOND


def test_the_lease_lasts_the_lambdas_remaining_time_and_a_grace(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=3, invoices=0)
    call_step("customer-sync", org, executionId=FIRST)
    seconds = db.scalar(
        "SELECT extract(epoch FROM expires_at - now()) FROM tenant_leases WHERE user_id = :u", u=org.user_id
    )
    assert 900 < float(seconds) <= 900 + 300  # LocalLambdaContext: 900 s left at most, plus 300 s grace


def test_a_whole_run_leaves_no_lock_and_no_lease_behind(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=20, invoices=40)
    assert run_tenant(org.user_id).error is None
    assert db.scalar("SELECT count(*) FROM tenant_leases") == 0
    assert db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0


def test_only_the_migrator_takes_a_session_level_lock() -> None:
    """A session-level advisory lock or SET pins an RDS Proxy connection; migrations connect directly."""
    session_state = re.compile(
        r"pg_advisory_lock|pg_try_advisory_lock|db\.locked\(|\bSET (SESSION|search_path|TIME)", re.I
    )
    found = {
        str(path.relative_to(ROOT))
        for folder in ("layers/common/books_sync", "functions")
        for path in (ROOT / folder).rglob("*.py")
        if session_state.search(path.read_text(encoding="utf-8"))
    }
    assert found <= {"layers/common/books_sync/migrator.py", "layers/common/books_sync/db.py"}, found


def test_a_killed_zoho_sync_run_does_not_keep_the_tenant(db: Database, make_org: MakeOrg) -> None:
    """A run's holder carries its process's random instance id. The next run frees the lease at once when
    that process is gone from its own PID namespace, else once the instance has been silent for a minute;
    never while it beats."""
    org = make_org(customers=5, invoices=5)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    here = pipeline.this_process()
    alive, killed_here, silent = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex

    leases.beat(db, alive, here)  # this process: alive
    assert leases.take(db, org.user_id, f"{RUN_HOLDER}:{alive}:0000", "invoice-sync", 600) is None
    db.run("UPDATE tenant_leases SET acquired_at = now() - interval '2 minutes'")
    assert run_tenant(org.user_id).status == "skipped"  # its holder beats and lives
    leases.give_back(db, org.user_id, f"{RUN_HOLDER}:{alive}:0000")

    leases.beat(db, killed_here, leases.Process(here.pid_namespace, gone.pid))  # beat a second ago, then killed
    assert leases.take(db, org.user_id, f"{RUN_HOLDER}:{killed_here}:0000", "invoice-sync", 600) is None
    assert run_tenant(org.user_id).status == "ok"  # gone from this namespace: freed at once

    elsewhere = leases.Process("another-boot:4026531836", os.getpid())  # another namespace: its PID means nothing
    leases.beat(db, silent, elsewhere)
    assert leases.take(db, org.user_id, f"{RUN_HOLDER}:{silent}:0000", "invoice-sync", 600) is None
    db.run("UPDATE tenant_leases SET acquired_at = now() - interval '2 minutes'")
    assert run_tenant(org.user_id).status == "skipped"  # beating, elsewhere
    db.run("UPDATE run_heartbeats SET beat_at = now() - interval '61 seconds' WHERE instance = :i", i=silent)
    assert run_tenant(org.user_id).status == "ok"  # silent for a minute: killed


def test_a_run_beats_while_it_works_and_forgets_its_beat_at_the_end(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5, invoices=5)
    seen: list[int] = []
    run_tenant(org.user_id, progress=lambda step, summary: seen.append(int(db.scalar(
        "SELECT count(*) FROM run_heartbeats WHERE instance = :i AND beat_at > now() - interval '1 minute'",
        i=pipeline.INSTANCE))))  # fmt: skip
    assert seen and all(count == 1 for count in seen)
    assert db.scalar("SELECT count(*) FROM run_heartbeats WHERE instance = :i", i=pipeline.INSTANCE) == 0


def test_two_runs_in_separate_pid_namespaces_never_hold_one_tenant_at_once(db: Database, make_org: MakeOrg) -> None:
    """Issue 25: the first `zoho-sync run` works on the tenant (slowly) in this PID namespace; a second
    starts under the same hostname in a new PID namespace, where the first one's PID does not exist. It
    must skip the tenant, not judge the first run dead."""
    if subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True, check=False).returncode:
        pytest.skip("this machine cannot make a PID namespace (unshare needs root)")
    org = make_org(customers=300, invoices=300)
    org.control.configure(latency_seconds=0.02)  # a first sync of seconds
    cli = Path(sys.executable).with_name("zoho-sync")
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    command = [str(cli), "run", "--user-id", org.user_id, "--json"]
    try:
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while holder(db, org.user_id) is None and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert str(holder(db, org.user_id)).startswith(RUN_HOLDER)
        second = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        first_out, first_err = first.communicate(timeout=240)
    finally:
        org.control.configure(latency_seconds=0)
    assert first.returncode == 0, first_err[-2000:]
    assert second.returncode == 0, second.stderr[-2000:]
    statuses = {run["user_id"]: run["status"] for run in json.loads(first_out)}
    second_statuses = {run["user_id"]: run["status"] for run in json.loads(second.stdout)}
    assert (statuses[org.user_id], second_statuses[org.user_id]) == ("ok", "skipped")
