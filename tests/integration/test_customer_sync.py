"""The customer sync step end to end: real handler, embedded Postgres, the emulator over HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from books_sync.db import Database
from books_sync.errors import EventError, TenantNotActive, UnknownTenant, ZohoUnavailable
from books_sync.storage import leases, sync_state
from books_sync.storage import tenants as tenant_store
from customer_sync.handler import lambda_handler
from tests.support import MakeOrg, Org, call_step
from zoho_sync_cli.lambda_context import CountdownLambdaContext, LocalLambdaContext

ZOHO_PROFILES = ("observed", "documented")  # Zoho as documented, and as seen

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def run(org: Org, *, full_resync: bool = False, context: Any = None) -> dict[str, Any]:
    return call_step("customer-sync", org, context=context, fullResync=full_resync)


def details(org: Org, *, context: Any = None) -> dict[str, Any]:
    """The customers' details follow the list, by urgency, in the invoice step's `details` phase."""
    return call_step("invoice-sync", org, context=context)


def run_until_done(org: Org, make_context: Callable[[], Any], *, full_resync: bool = False) -> list[dict[str, Any]]:
    summaries = [run(org, full_resync=full_resync, context=make_context())]
    while summaries[-1]["hasMore"]:
        assert len(summaries) < 200, "the hasMore loop does not end"
        summaries.append(run(org, full_resync=full_resync, context=make_context()))
    return summaries


def customers(db: Database, user_id: str) -> dict[str, dict[str, Any]]:
    """Every synced column except the local timestamps, keyed by Zoho id."""
    rows = db.rows(
        "SELECT zoho_customer_id, customer_name, primary_phone, primary_email, contact_persons, country_code, "
        "timezone, phone_override, zoho_last_modified_at, sync_hash, deleted_at FROM customers_cache "
        "WHERE user_id = :u",
        u=user_id,
    )
    return {row["zoho_customer_id"]: row for row in rows}


def zoho_customers(org: Org, *, window_days: int = 365) -> dict[str, dict[str, Any]]:
    cutoff = datetime.now(UTC) - timedelta(days=window_days)
    return {
        c["contact_id"]: c
        for c in org.control.snapshot(org.organization_id)["contacts"]
        if c["contact_type"] == "customer"
        and datetime.strptime(c["last_modified_time"], "%Y-%m-%dT%H:%M:%S%z") >= cutoff
    }


def test_first_sync_stores_every_customer_with_all_persons(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=60, invoices=0, old_customer_share=0.1, seed=21)
    summary = run(org)
    expected = zoho_customers(org)
    stored = customers(db, org.user_id)
    assert set(stored) == set(expected)  # customers only, and only those inside the 365-day window
    assert summary["status"] == "ok"
    assert summary["hasMore"] is False
    assert summary["inserted"] == summary["detailsQueued"] == len(expected)
    # token + organization profile + one list page: the list first, no detail yet.
    assert summary["apiCalls"] == 1 + 1 + 1
    assert all(row["contact_persons"] == [] for row in stored.values())
    assert summary["withoutPhone"] == sum(1 for row in stored.values() if not row["primary_phone"])
    filled = details(org)
    assert (filled["detailsFetched"], filled["detailsWaiting"]) == (len(expected), 0)
    assert filled["apiCalls"] == 1 + len(expected)  # the invoice page, one detail per customer
    stored = customers(db, org.user_id)
    for zoho_id, row in stored.items():
        source = expected[zoho_id]
        assert len(row["contact_persons"]) == len(source["contact_persons"])
        assert row["sync_hash"] and len(row["sync_hash"]) == 64
        assert row["phone_override"] is None
        assert row["primary_phone"] is None or E164.match(row["primary_phone"])
        assert row["customer_name"] == source["contact_name"][:2000]
    with_phone = [r for r in stored.values() if r["primary_phone"]]
    assert with_phone
    assert all(r["timezone"] for r in with_phone)
    state = sync_state.load(db, org.user_id, "customer")
    assert state.checkpoint is None
    assert state.last_sync_at is not None
    assert state.cursor == max(r["zoho_last_modified_at"] for r in stored.values())
    tenant = tenant_store.get(db, org.user_id)
    assert tenant is not None
    assert tenant.organization_country_code == "IN"
    assert tenant.organization_timezone == "Asia/Kolkata"


def test_second_run_without_changes_fetches_no_detail_and_only_touches(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=60, invoices=0)
    run(org)
    details(org)
    before = customers(db, org.user_id)
    synced_before = dict(db.run("SELECT zoho_customer_id, local_last_synced_at FROM customers_cache"))
    summary = run(org)
    assert summary["detailsQueued"] == 0
    assert summary["inserted"] == summary["updated"] == 0
    assert summary["unchanged"] >= 1  # the rows inside the cursor's overlap window are re-read and touched
    assert summary["apiCalls"] == 1  # one list page; the token is cached in the database
    assert customers(db, org.user_id) == before
    synced_after = dict(db.run("SELECT zoho_customer_id, local_last_synced_at FROM customers_cache"))
    touched = [k for k in synced_after if synced_after[k] != synced_before[k]]
    assert len(touched) == summary["unchanged"]
    assert details(org)["detailsFetched"] == 0


def test_phone_change_updates_that_customer_and_no_other(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=60, invoices=0)
    run(org)
    details(org)
    before = customers(db, org.user_id)
    target = next(k for k, v in before.items() if v["contact_persons"])
    org.control.update_contact(org.organization_id, target, mobile="+91 98450 77777")
    summary = run(org)
    assert (summary["updated"], summary["detailsQueued"]) == (1, 1)
    assert details(org)["detailsFetched"] == 1  # the changed contact's detail, read again
    after = customers(db, org.user_id)
    assert after[target]["primary_phone"] == "+919845077777"
    assert after[target]["sync_hash"] != before[target]["sync_hash"]
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in before.items() if k != target}


def test_deleted_in_zoho_is_soft_deleted_and_comes_back(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=30, invoices=0)
    run(org)
    victim = next(iter(customers(db, org.user_id)))
    org.control.delete_contact(org.organization_id, victim)
    summary = run(org, full_resync=True)  # a full resync always reconciles deletions
    assert summary["softDeleted"] == 1
    row = customers(db, org.user_id)[victim]
    assert row["deleted_at"] is not None
    assert len(customers(db, org.user_id)) == 30  # the row is kept

    org.control.restore_contact(org.organization_id, victim)
    summary = run(org)
    assert summary["restored"] == 1
    assert customers(db, org.user_id)[victim]["deleted_at"] is None


def test_periodic_reconcile_runs_when_due(db: Database, make_org: MakeOrg, configure: Callable[..., None]) -> None:
    org = make_org(customers=30, invoices=0)
    run(org)
    victim = next(iter(customers(db, org.user_id)))
    org.control.delete_contact(org.organization_id, victim)
    assert run(org)["softDeleted"] == 0  # not due yet (every 7 days by default)
    configure(CUSTOMER_RECONCILE_INTERVAL_DAYS="0")
    summary = run(org)
    assert summary["softDeleted"] == 1
    assert summary["apiCalls"] == 1 + 1 + 1  # list page, one reconcile id page, one 404 check


def test_manual_phone_override_survives_syncs(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=20, invoices=0)
    run(org)
    details(org)
    target = next(k for k, v in customers(db, org.user_id).items() if v["contact_persons"])
    db.run("UPDATE customers_cache SET phone_override = '+15550100' WHERE zoho_customer_id = :z", z=target)
    org.control.update_contact(org.organization_id, target, mobile="+91 98450 66666", contact_name="Renamed")
    run(org)
    details(org)
    run(org, full_resync=True)
    details(org)
    row = customers(db, org.user_id)[target]
    assert row["phone_override"] == "+15550100"
    assert row["primary_phone"] == "+919845066666"
    assert row["customer_name"] == "Renamed"


def test_crash_after_some_pages_then_rerun_converges(db: Database, make_org: MakeOrg) -> None:
    clean = make_org(customers=700, invoices=0, seed=33)
    crashy = make_org(customers=700, invoices=0, seed=33)
    run(clean)
    details(clean)
    # Pages 1 and 2 go through, then listing page 3 keeps failing: the step raises.
    crashy.control.inject("contacts.list", "500", count=10, organization_id=crashy.organization_id, after=2)
    with pytest.raises(ZohoUnavailable, match=r"contacts\.list: gave up"):
        run(crashy)
    after_pages = len(customers(db, crashy.user_id))
    # Two pages of 200 committed; a list that ignores contact_type (as documented) mixes in vendors.
    assert 350 <= after_pages <= 400
    crashy.control.clear_faults()
    assert run(crashy)["status"] == "ok"
    # Then a crash in the middle of the details: the ones fetched before the failure are kept.
    crashy.control.inject("contacts.get", "500", count=10, organization_id=crashy.organization_id, after=50)
    with pytest.raises(ZohoUnavailable, match=r"contacts\.get: gave up"):
        details(crashy)
    current = "SELECT count(*) FROM customers_cache WHERE user_id = :u AND detail_hash = sync_hash"
    assert db.scalar(current, u=crashy.user_id) == 50
    crashy.control.clear_faults()
    assert details(crashy)["status"] == "ok"
    assert _comparable(customers(db, crashy.user_id)) == _comparable(customers(db, clean.user_id))
    assert sync_state.load(db, crashy.user_id, "customer").checkpoint is None


def _comparable(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Twin organizations (same seed) share content but not ids or clock: compare the content."""
    return sorted(
        json.dumps(
            [
                r["customer_name"],
                r["primary_phone"],
                r["primary_email"],
                r["country_code"],
                r["timezone"],
                [{k: v for k, v in p.items() if k != "contact_person_id"} for p in r["contact_persons"]],
                r["phone_override"],
                r["deleted_at"] is None,
            ],
            sort_keys=True,
            ensure_ascii=False,
        )
        for r in rows.values()
    )


def test_tiny_time_budget_loops_to_the_same_rows_as_one_call(db: Database, make_org: MakeOrg) -> None:
    one_call = make_org(customers=450, invoices=0, seed=44)
    looped = make_org(customers=450, invoices=0, seed=44)
    run(one_call)
    details(one_call)
    summaries = run_until_done(looped, lambda: CountdownLambdaContext("customer-sync", checks=1))
    assert len(summaries) >= 2  # the time budget stops a call after a page or two
    assert all(s["hasMore"] for s in summaries[:-1])
    in_window = len(zoho_customers(looped))
    assert sum(s["inserted"] for s in summaries) == in_window
    filled = [details(looped, context=CountdownLambdaContext("invoice-sync", checks=40))]
    while filled[-1]["hasMore"]:
        assert len(filled) < 50
        filled.append(details(looped, context=CountdownLambdaContext("invoice-sync", checks=40)))
    assert len(filled) >= 5
    assert sum(s["detailsFetched"] for s in filled) == in_window  # no detail fetched twice
    assert _comparable(customers(db, looped.user_id)) == _comparable(customers(db, one_call.user_id))
    assert sync_state.load(db, looped.user_id, "customer").checkpoint is None


def test_overlapping_run_is_skipped(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=10, invoices=0)
    earlier = "arn:aws:states:us-east-1:1:execution:sync:earlier"  # another execution still works on the tenant
    assert leases.take(db, org.user_id, earlier, "customer-sync", 600) is None
    summary = run(org)
    assert (summary["status"], summary["apiCalls"]) == ("skipped", 0)
    held = leases.current(db, org.user_id)
    assert held is not None and held.holder == earlier
    assert customers(db, org.user_id) == {}


def test_details_stop_at_the_days_allowance_and_go_on_the_next_day(db: Database, make_org: MakeOrg) -> None:
    """Budget 30 a day, 10% kept for incremental runs: the organization and the two lists cost 3 calls
    (a token refresh is not a Books API call), details take the rest."""
    clean = make_org(customers=40, invoices=0, seed=55)
    limited = make_org(customers=40, invoices=0, seed=55, daily_call_budget=30)
    run(clean)
    details(clean)
    assert run(limited)["status"] == "ok"
    first = details(limited)
    assert (first["status"], first["hasMore"]) == ("ok", False)
    assert first["detailsFetched"] == 30 - 3 - 3
    assert first["detailsWaiting"] == 40 - first["detailsFetched"]
    db.run("DELETE FROM zoho_api_usage WHERE organization_id = :o", o=limited.organization_id)  # the next day
    second = details(limited)
    assert (second["detailsFetched"], second["detailsWaiting"]) == (40 - first["detailsFetched"], 0)
    assert _comparable(customers(db, limited.user_id)) == _comparable(customers(db, clean.user_id))


def test_daily_budget_defers_and_resumes_from_the_checkpoint(db: Database, make_org: MakeOrg) -> None:
    clean = make_org(customers=450, invoices=0, seed=56)
    limited = make_org(customers=450, invoices=0, seed=56, daily_call_budget=3)
    run(clean)
    summary = run(limited)  # the organization, two list pages: the third page waits for tomorrow
    assert (summary["status"], summary["hasMore"]) == ("deferred", False)
    stored = len(customers(db, limited.user_id))
    assert 0 < stored < len(customers(db, clean.user_id))
    assert sync_state.load(db, limited.user_id, "customer").checkpoint is not None
    db.run("UPDATE zoho_connections SET daily_call_budget = 1000 WHERE user_id = :u", u=limited.user_id)
    assert run(limited)["status"] == "ok"
    assert len(customers(db, limited.user_id)) == len(customers(db, clean.user_id))


def test_malformed_contact_rows_are_skipped_with_a_reason(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=20, invoices=0)
    org.control.inject("contacts.list", "wrong_types", count=1, organization_id=org.organization_id)
    summary = run(org)
    assert summary["skippedInvalid"] >= 20  # every customer row (and vendors, where the list shows them)
    assert summary["inserted"] == 0
    assert run(org)["inserted"] == 20  # nothing was lost: the next run reads them from the window


def test_nasty_contact_data_is_stored_never_crashes(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5, invoices=0)
    nasty = org.control.create_contact(org.organization_id)
    org.control.update_contact(
        org.organization_id,
        nasty["contact_id"],
        contact_name="Nul\x00led 🚀 " + "名" * 20000,
        contact_persons=[None, "x", {"mobile": 12345, "is_primary_contact": "true"}, {"phone": "+44 20 7946 0958"}],
        billing_country=None,
        email=None,
    )
    summary = run(org)
    assert summary["inserted"] == 6
    details(org)
    row = customers(db, org.user_id)[nasty["contact_id"]]
    assert row["customer_name"].startswith("Nulled 🚀 ")
    assert len(row["customer_name"]) == 2000
    assert row["primary_phone"] == "+442079460958"
    assert len(row["contact_persons"]) == 2


def test_an_unusable_detail_keeps_the_list_row_and_is_asked_again_later(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=3, invoices=0)
    org.control.inject("contacts.get", "missing_key", count=1, organization_id=org.organization_id)
    run(org)
    summary = details(org)
    assert (summary["detailFailures"], summary["detailsFetched"], summary["detailsWaiting"]) == (1, 2, 1)
    waiting = db.one(
        "SELECT zoho_customer_id, detail_attempts, detail_retry_at > now() AS later, reminder_ready "
        "FROM customers_cache WHERE user_id = :u AND detail_hash IS DISTINCT FROM sync_hash",
        u=org.user_id,
    )
    assert waiting is not None and (waiting["detail_attempts"], waiting["later"], waiting["reminder_ready"]) == (
        1,
        True,
        False,
    )
    assert details(org)["detailsFetched"] == 0  # not before its retry time
    db.run("UPDATE customers_cache SET detail_retry_at = now() WHERE user_id = :u", u=org.user_id)
    assert (details(org)["detailsFetched"], details(org)["detailsWaiting"]) == (1, 0)


def test_bad_events_and_tenants_fail_fast(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=1, invoices=0)
    context = LocalLambdaContext("customer-sync")
    with pytest.raises(EventError, match="userId: required"):
        lambda_handler({}, context)
    with pytest.raises(EventError, match="fullResync: expected true or false"):
        lambda_handler({"userId": org.user_id, "fullResync": "no"}, context)
    with pytest.raises(UnknownTenant, match="unknown tenant 'ghost'"):
        lambda_handler({"userId": "ghost"}, context)
    tenant_store.set_status(db, org.user_id, "disabled", "paused by the owner")
    with pytest.raises(TenantNotActive, match="is disabled"):
        lambda_handler({"userId": org.user_id}, context)
