"""The fleet on a bad day (issue 22): Zoho down for everyone, Zoho hanging, one broken tenant.

Through the real handlers, the local state machine (moto running statemachine/sync.asl.json) and the
emulator; the shared circuit breaker's rules on the embedded Postgres.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from books_sync.db import Database
from books_sync.errors import ZohoDown
from books_sync.settings import BreakerSettings
from books_sync.storage import breakers
from tests.support import Org, call_step
from zoho_sync_cli.lambda_context import LocalLambdaContext
from zoho_sync_cli.local_state_machine import LocalStateMachine

MakeOrg = Callable[..., Org]
BOOKS = ["contacts.list", "contacts.get", "invoices.list", "invoices.get", "organizations.get"]
RULES = BreakerSettings(organizations=3, window=timedelta(minutes=2), cooldown=timedelta(seconds=1))


@pytest.fixture
def machine() -> Iterator[LocalStateMachine]:
    with LocalStateMachine().running() as running:
        yield running


def test_one_organization_failing_alone_never_opens_the_breaker(db: Database) -> None:
    for _ in range(10):
        assert not breakers.failed(db, "com", "org-dead", RULES)
    assert breakers.admit(db, "com", "contacts.list") == "watch"
    breakers.answered(db, "com")  # any good answer, from any organization, clears the count
    assert breakers.admit(db, "com", "contacts.list") == "clean"


def test_several_organizations_failing_open_it_for_everyone_until_a_probe_gets_an_answer(db: Database) -> None:
    assert not breakers.failed(db, "eu", "org-1", RULES)
    assert not breakers.failed(db, "eu", "org-2", RULES)
    assert breakers.failed(db, "eu", "org-3", RULES)
    with pytest.raises(ZohoDown, match="the eu data center"):
        breakers.admit(db, "eu", "contacts.list")
    assert breakers.admit(db, "com", "contacts.list") == "clean"  # other data centers are not concerned
    time.sleep(1.1)
    assert breakers.admit(db, "eu", "contacts.list") == "probe"  # one call at a time after the cool-down
    with pytest.raises(ZohoDown):
        breakers.admit(db, "eu", "contacts.list")
    assert breakers.failed(db, "eu", "org-1", RULES)  # the probe failed: open again, for twice as long
    wait = db.scalar("SELECT extract(epoch FROM retry_at - now()) FROM zoho_breakers WHERE data_center = 'eu'")
    assert 1.5 < float(wait) <= 2.0
    db.run("UPDATE zoho_breakers SET retry_at = now() WHERE data_center = 'eu'")
    assert breakers.admit(db, "eu", "contacts.list") == "probe"
    breakers.answered(db, "eu")
    assert breakers.admit(db, "eu", "contacts.list") == "clean"
    assert breakers.open_now(db) == {}


def test_zoho_down_for_every_tenant_costs_the_fleet_one_short_wait_and_the_next_run_catches_up(
    db: Database, make_org: MakeOrg, machine: LocalStateMachine, configure: Callable[..., None]
) -> None:
    """Every Books call answers 503: six tenants give up together within a minute, deferred (none failed, none
    marked for re-authorization); after Zoho is back, the first run brings every change made meanwhile."""
    configure(BREAKER_COOLDOWN_SECONDS="1")
    orgs = [make_org(customers=20, invoices=30, seed=60 + n) for n in range(6)]
    assert machine.execute({}).status == "SUCCEEDED"
    zoho = orgs[0].control
    zoho.random_faults(rate=1.0, kinds=["503"], endpoints=BOOKS)
    made = [org.control.create_contact(org.organization_id, mobile="+91 98765 43210")["contact_id"] for org in orgs]
    down = machine.execute({})
    zoho.clear_faults()
    assert down.status == "SUCCEEDED", down.cause
    assert down.seconds < 60
    assert {down.outcome(org.user_id) for org in orgs} == {"deferred"}
    reasons = db.run("SELECT DISTINCT summary ->> 'deferredReason' FROM step_runs WHERE status = 'deferred'")
    assert reasons == [["Zoho unavailable"]]
    assert db.scalar("SELECT count(*) FROM zoho_connections WHERE status <> 'active'") == 0
    wait = db.scalar("SELECT greatest(0, extract(epoch FROM max(retry_at) - now())) FROM zoho_breakers")
    assert wait is not None and float(wait) < 20  # failed probes doubled the wait from 1 s, not more
    time.sleep(float(wait) + 0.2)  # the next run's first call is the probe
    back = machine.execute({})
    assert back.status == "SUCCEEDED", back.cause
    assert {back.outcome(org.user_id) for org in orgs} == {"synced"}
    cached = {row[0] for row in db.run("SELECT zoho_customer_id FROM customers_cache")}
    assert set(made) <= cached  # every change made while Zoho was down


def test_a_step_under_a_hanging_zoho_returns_within_its_time_with_its_checkpoint(
    db: Database, make_org: MakeOrg, configure: Callable[..., None]
) -> None:
    """A step given 90 s with a 30-s margin: Zoho answers two pages, then every call hangs. The step ends
    well before its time is up (its call gives up: the worst case of one call fits in the margin), with the
    pages it read committed and its checkpoint saved; its run is recorded, not left `running`."""
    configure(
        SYNC_TIME_SAFETY_MARGIN_SECONDS="30", ZOHO_READ_TIMEOUT_SECONDS="12", ZOHO_CONNECT_TIMEOUT_SECONDS="1",
        ZOHO_MAX_RETRIES="1",
    )  # fmt: skip
    org = make_org(customers=700, invoices=0, seed=66)
    org.control.configure(hang_seconds=60)
    org.control.inject("contacts.list", "hang", count=1000, after=2, organization_id=org.organization_id)
    started = time.monotonic()
    with pytest.raises(Exception, match=r"gave up after 2 attempts") as raised:
        call_step("customer-sync", org, context=LocalLambdaContext("customer-sync", timeout_seconds=90))
    took = time.monotonic() - started
    org.control.clear_faults()
    assert took < 60, took
    assert type(raised.value).__name__ == "ZohoUnavailable"
    checkpoint = db.scalar("SELECT customer_checkpoint FROM sync_metadata WHERE user_id = :u", u=org.user_id)
    assert checkpoint["pass"]["read"] >= 390  # the two windows read are kept
    assert db.scalar("SELECT count(*) FROM customers_cache WHERE user_id = :u", u=org.user_id) >= 390
    assert db.scalar("SELECT status FROM step_runs WHERE user_id = :u", u=org.user_id) == "failed"


def test_a_call_never_runs_past_the_time_its_step_has_left(db: Database, make_org: MakeOrg) -> None:
    """Its read timeout is cut to the time left, and no retry starts that could not end in it: the step
    saves its place (OutOfTime: hasMore) instead of running into the Lambda's timeout."""
    from books_sync.errors import OutOfTime
    from books_sync.sync.clients import zoho_client

    org = make_org(customers=10, invoices=0, seed=67)
    org.control.configure(hang_seconds=60)
    org.control.inject("contacts.list", "hang", count=10, organization_id=org.organization_id)
    ends = time.monotonic() + 6.0
    client = zoho_client(db, org.tenant(db), deadline=lambda: ends - time.monotonic())
    started = time.monotonic()
    with pytest.raises(OutOfTime):
        client.contacts_page(None)
    assert time.monotonic() - started < 8
    org.control.clear_faults()


def test_the_worst_case_of_one_call_must_fit_in_the_margin(configure: Callable[..., None]) -> None:
    from books_sync.errors import SettingsError
    from books_sync.settings import get_settings

    configure(SYNC_TIME_SAFETY_MARGIN_SECONDS="30", ZOHO_READ_TIMEOUT_SECONDS="30")
    with pytest.raises(SettingsError, match=r"SYNC_TIME_SAFETY_MARGIN_SECONDS: 30 s is less than one Zoho call"):
        get_settings()


def test_a_scheduled_start_while_an_execution_still_works_ends_at_once(
    db: Database, make_org: MakeOrg, machine: LocalStateMachine
) -> None:
    """Executions never pile up: the second all-tenant start is reported and ends, the first finishes."""
    org = make_org(customers=60, invoices=200, seed=68)
    org.control.configure(latency_seconds=0.2)  # the first execution takes a few seconds
    first = machine.start({})
    deadline = time.monotonic() + 30
    while not db.scalar("SELECT count(*) FROM fleet_lease") and time.monotonic() < deadline:
        time.sleep(0.05)
    second = machine.wait(machine.start({}), timeout_seconds=60)
    assert second.status == "SUCCEEDED", second.cause
    assert second.output is not None and second.output["overlapping"] == first
    assert second.output["tenants"] == 0
    done = machine.wait(first, timeout_seconds=120)
    org.control.configure(latency_seconds=0)
    assert done.status == "SUCCEEDED" and done.outcome(org.user_id) == "synced"
    assert db.scalar("SELECT count(*) FROM fleet_lease") == 0  # given back: the next one may work
    assert machine.execute({}).outcome(org.user_id) == "synced"


def test_a_retried_task_never_runs_a_step_twice_at_once(db: Database, make_org: MakeOrg) -> None:
    """A Lambda task retried while its first invocation still runs (same execution) waits for it
    (StepStillRunning, which the state machine retries) instead of working beside it."""
    import threading

    from books_sync.errors import StepStillRunning

    org = make_org(customers=400, invoices=0, seed=69)
    org.control.configure(latency_seconds=0.3)
    execution = "arn:aws:states:us-east-1:123456789012:execution:zoho-sync:retried"
    results: list[dict[str, object]] = []
    first = threading.Thread(target=lambda: results.append(call_step("customer-sync", org, executionId=execution)))
    first.start()
    deadline = time.monotonic() + 30
    while (
        not db.scalar("SELECT count(*) FROM tenant_leases WHERE invocation IS NOT NULL") and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    with pytest.raises(StepStillRunning, match="still running in an earlier invocation"):
        call_step("customer-sync", org, executionId=execution)
    first.join(timeout=120)
    org.control.configure(latency_seconds=0)
    assert results and results[0]["status"] == "ok"
    again = call_step("customer-sync", org, executionId=execution)  # the retry, once the first is gone
    assert again["status"] == "ok"
