"""Faults, crashes and concurrency against ground truth: a fault-free run of a twin organization.

Two emulator organizations from one seed hold the same data (only their Zoho ids differ), so the
rows a disturbed run ends with are compared with what an undisturbed run produced.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from books_sync.db import Database
from tests.support import MakeOrg, assert_cursors_behind_data, run_until_success
from zoho_sync_cli.pipeline import run_tenant

pytestmark = pytest.mark.reliability


def ground_truth(db: Database, user_id: str) -> tuple[list[tuple[Any, ...]], ...]:
    """Every synced row without ids or local timestamps, in a stable order."""
    customers = db.run(
        "SELECT customer_name, primary_phone, primary_email, country_code, timezone, "
        "(SELECT jsonb_agg(p - 'contact_person_id') FROM jsonb_array_elements(contact_persons) AS p)::text, "
        "deleted_at IS NULL FROM customers_cache WHERE user_id = :u ORDER BY 1, 2, 3, 6",
        u=user_id,
    )
    invoices = db.run(
        "SELECT i.invoice_number, c.customer_name, c.primary_phone, i.status, i.invoice_date, i.due_date, i.total, "
        "i.balance FROM invoices_cache AS i JOIN customers_cache AS c ON c.id = i.customer_id "
        "WHERE i.user_id = :u ORDER BY 1",
        u=user_id,
    )
    reminders = db.run(
        "SELECT i.invoice_number, r.offset_days, r.scheduled_for, r.status FROM reminders AS r "
        "JOIN invoices_cache AS i ON i.id = r.invoice_id WHERE r.user_id = :u ORDER BY 1, 2",
        u=user_id,
    )
    return [tuple(r) for r in customers], [tuple(r) for r in invoices], [tuple(r) for r in reminders]


def assert_same_rows(db: Database, user_id: str, truth_user_id: str) -> None:
    for table, mine, truth in zip(
        ("customers", "invoices", "reminders"), ground_truth(db, user_id), ground_truth(db, truth_user_id), strict=True
    ):
        missing = [row for row in truth if row not in mine][:3]
        extra = [row for row in mine if row not in truth][:3]
        assert (len(mine), missing, extra) == (len(truth), [], []), table


def assert_no_duplicates_and_cursor_behind_data(db: Database, user_id: str) -> None:
    assert (
        db.scalar(
            "SELECT count(*) FROM (SELECT invoice_id, offset_days FROM reminders WHERE user_id = :u "
            "GROUP BY 1, 2 HAVING count(*) > 1) AS d",
            u=user_id,
        )
        == 0
    )
    assert_cursors_behind_data(db, user_id)


def test_ten_percent_random_faults_end_at_the_fault_free_result(
    db: Database, make_org: MakeOrg, configure: Callable[..., None]
) -> None:
    clean = make_org(customers=120, invoices=400, seed=61)
    faulty = make_org(customers=120, invoices=400, seed=61)
    assert run_tenant(clean.user_id).error is None
    configure(ZOHO_READ_TIMEOUT_SECONDS="0.5")  # hangs (2.5 s) time out quickly
    faulty.control.random_faults(0.10, ["429", "500", "hang", "malformed", "401"], seed=7)
    runs = run_until_success(faulty.user_id)
    faulty.control.clear_faults()
    assert_same_rows(db, faulty.user_id, clean.user_id)
    assert_no_duplicates_and_cursor_behind_data(db, faulty.user_id)
    stats = faulty.control.stats()
    assert sum(int(v) for k, v in stats["statuses"].items() if k != "200") > 0, "no fault was injected"
    assert len(runs) >= 1


def test_sigkill_at_random_points_then_rerun_converges(db: Database, make_org: MakeOrg, db_url: str) -> None:
    clean = make_org(customers=1000, invoices=3000, seed=71)
    crashy = make_org(customers=1000, invoices=3000, seed=71)
    assert run_tenant(clean.user_id).error is None
    cli = Path(sys.executable).with_name("zoho-sync")
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    rng = random.Random(5)
    kills = 0
    for _ in range(4):
        process = subprocess.Popen(
            [str(cli), "run", "--user-id", crashy.user_id],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(rng.uniform(0.7, 2.0))
        if process.poll() is not None:
            assert process.returncode == 0, process.stderr.read().decode()[-2000:] if process.stderr else ""
        else:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
    assert kills >= 1
    assert run_tenant(crashy.user_id).error is None
    assert_same_rows(db, crashy.user_id, clean.user_id)
    assert_no_duplicates_and_cursor_behind_data(db, crashy.user_id)


def test_two_pipelines_for_the_same_tenants_at_once_in_two_processes(db: Database, make_org: MakeOrg) -> None:
    """Two `zoho-sync run` processes over the same two tenants: no deadlock, no error, no duplicate.

    The second starts once the first has committed its first page, so they meet on the first tenant (its
    list, or the customers' details that follow): per step one runs and the other skips (the sync steps) or
    waits (reminders); a later run completes the picture.
    """
    clean = [make_org(customers=600, invoices=900, seed=81), make_org(customers=150, invoices=500, seed=82)]
    contested = [make_org(customers=600, invoices=900, seed=81), make_org(customers=150, invoices=500, seed=82)]
    for org in clean:
        assert run_tenant(org.user_id).error is None
    contested[0].control.configure(latency_seconds=0.01)  # 10 ms a call: a 600-customer sync lasts seconds
    cli = Path(sys.executable).with_name("zoho-sync")
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    command = [str(cli), "run", *(arg for org in contested for arg in ("--user-id", org.user_id))]
    first_page = "SELECT count(*) FROM customers_cache WHERE user_id = :u"
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    deadline = time.monotonic() + 60
    while (
        not db.scalar(first_page, u=contested[0].user_id)
        and processes[0].poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [process.communicate(timeout=240)[1] for process in processes]  # progress lines are on stderr
    contested[0].control.configure(latency_seconds=0)
    for process, out in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out[-3000:]
    statuses: dict[tuple[str, str], list[str]] = {}
    for out in outputs:
        for user, step, status in re.findall(r"^  (\S+) ([a-z-]+): (\w+),", out, re.MULTILINE):
            statuses.setdefault((user, step), []).append(status)
    assert len(statuses) == 6
    assert all(sorted(found) in (["ok", "ok"], ["ok", "skipped"]) for found in statuses.values()), statuses
    first = contested[0].user_id  # they met on the first tenant's list or its details: the second one skipped
    assert "skipped" in statuses[(first, "customer-sync")] + statuses[(first, "invoice-sync")]
    for org in contested:
        assert run_tenant(org.user_id).error is None  # whichever step skipped: the next run completes it
    for org, twin in zip(contested, clean, strict=True):
        assert_same_rows(db, org.user_id, twin.user_id)
        assert_no_duplicates_and_cursor_behind_data(db, org.user_id)
