"""Who works on a tenant: lease rows instead of session-level advisory locks (RDS-Proxy-safe).

An execution takes the tenant's lease with its first step, keeps it between its steps and gives it
back after the last; another execution (or `zoho-sync run`) meanwhile skips the tenant.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from books_sync.db import Database
from books_sync.errors import ZohoUnavailable
from books_sync.storage import leases
from tests.support import MakeOrg, call_step
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
    """Its lease names this machine and its process: the next run frees it once that process is gone."""
    org = make_org(customers=5, invoices=5)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    abandoned = f"{RUN_HOLDER}:{socket.gethostname()}:{gone.pid}:0000"
    alive = f"{RUN_HOLDER}:{socket.gethostname()}:{os.getpid()}:0000"
    assert leases.take(db, org.user_id, alive, "invoice-sync", 600) is None
    assert run_tenant(org.user_id).status == "skipped"  # its holder still runs
    leases.give_back(db, org.user_id, alive)
    assert leases.take(db, org.user_id, abandoned, "invoice-sync", 600) is None
    assert run_tenant(org.user_id).status == "ok"
