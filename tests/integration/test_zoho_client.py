"""The Zoho client against the real HTTP emulator: every failure mode, over the wire."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from books_sync.db import Database, connect
from books_sync.errors import (
    DailyBudgetReached,
    OAuthClientRejected,
    ZohoApiError,
    ZohoAuthError,
    ZohoError,
    ZohoNotFound,
    ZohoProtocolError,
    ZohoRateLimited,
    ZohoUnavailable,
)
from books_sync.storage import api_usage
from books_sync.storage import tenants as tenant_store
from books_sync.sync.clients import zoho_client
from books_sync.zoho.client import Page, ZohoClient
from tests.support import MakeOrg, Org
from zoho_emulator.server import RunningEmulator


def _customer_ids(org: Org) -> set[str]:
    return {
        c["contact_id"]
        for c in org.control.snapshot(org.organization_id)["contacts"]
        if c["contact_type"] == "customer"
    }


def _contact_pages(client: ZohoClient) -> list[Page]:
    """Every page of the contacts list, walked by page number."""
    pages = [client.contacts_page(None, 1)]
    while pages[-1].has_more:
        pages.append(client.contacts_page(None, len(pages) + 1))
    return pages


def _org_calls(org: Org) -> dict[str, int]:
    return dict(org.control.stats()["by_org"].get(org.organization_id, {}))


def test_pagination_over_several_pages_loses_and_repeats_nothing(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=450, invoices=0, vendors=30)
    client = zoho_client(db, org.tenant(db))
    pages = _contact_pages(client)
    ids = [row["contact_id"] for page in pages for row in page.rows]
    assert len(pages) == 3
    assert [p.has_more for p in pages] == [True, True, False]
    assert len(ids) == len(set(ids)) == 450
    assert set(ids) == _customer_ids(org)  # vendors are not customers
    modified = [row["last_modified_time"] for page in pages for row in page.rows]
    assert len(modified) == 450
    assert client.calls_by_endpoint == {"token": 1, "contacts.list": 3}


def test_token_is_cached_in_the_database_and_refreshed_once_when_it_expires(db: Database, make_org: MakeOrg) -> None:
    org = make_org()
    client = zoho_client(db, org.tenant(db))
    client.get_organization()
    stored = tenant_store.read_access_token(db, org.user_id)
    assert stored is not None
    access = stored.token
    # Another Lambda (a new client) reuses the stored token: no refresh.
    other = zoho_client(db, org.tenant(db))
    other.get_organization()
    assert other.calls_by_endpoint["token"] == 0

    org.control.expire_access_tokens()  # mid-run expiry: the next call gets 401
    assert client.get_organization()["organization_id"] == org.organization_id
    assert client.calls_by_endpoint["token"] == 2
    renewed = tenant_store.read_access_token(db, org.user_id)
    assert renewed is not None and renewed.token != access


def test_concurrent_refreshers_of_one_tenant_refresh_once(db: Database, make_org: MakeOrg) -> None:
    org = make_org()
    results: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        own = connect(db.params)
        try:
            client = zoho_client(own, org.tenant(own))
            client.get_organization()
            results.append(client.calls_by_endpoint["token"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == [0, 0, 0, 1]
    assert org.control.stats()["by_org"]["-"]["token"] >= 1


def test_revoked_refresh_token_marks_needs_reauth_with_a_clear_error(db: Database, make_org: MakeOrg) -> None:
    org = make_org()
    client = zoho_client(db, org.tenant(db))
    client.get_organization()
    org.control.revoke_refresh_token(org.refresh_token)
    org.control.expire_access_tokens()
    with pytest.raises(ZohoAuthError) as raised:
        client.get_organization()
    message = str(raised.value)
    assert "invalid_code" in message
    assert org.refresh_token not in message
    tenant = tenant_store.get(db, org.user_id)
    assert tenant is not None
    assert tenant.status == "needs_reauth"
    assert tenant.status_reason and "invalid_code" in tenant.status_reason
    # No endless retries: one token call for the 401, none once the connection is marked.
    assert client.calls_by_endpoint["token"] == 2
    with pytest.raises(ZohoAuthError, match="needs_reauth"):
        client.tokens.refresh(rejected=None)
    assert client.calls_by_endpoint["token"] == 2


def test_a_wrong_client_secret_is_the_operators_error_and_no_tenant_changes_status(
    db: Database, make_org: MakeOrg, configure: Callable[..., None], emulator: RunningEmulator
) -> None:
    """`invalid_client` says our OAuth client is wrong, not that the tenant's grant is dead."""
    orgs = [make_org(), make_org()]
    configure(ZOHO_CLIENT_SECRET="not-the-secret")
    for org in orgs:
        refused = r"^ZOHO_CLIENT_SECRET: Zoho refused our OAuth client \(invalid_client"
        with pytest.raises(OAuthClientRejected, match=refused):
            zoho_client(db, org.tenant(db)).get_organization()
    assert [tenant_store.get_active(db, org.user_id).status for org in orgs] == ["active", "active"]
    configure(ZOHO_CLIENT_SECRET=emulator.emulator.client_secret)  # the operator fixes the secret
    assert zoho_client(db, orgs[0].tenant(db)).get_organization()["organization_id"] == orgs[0].organization_id


def test_429_bursts_and_5xx_are_retried_and_nothing_is_lost(
    db: Database, make_org: MakeOrg, configure: Callable[..., None]
) -> None:
    configure(ZOHO_MAX_RETRIES="6")
    org = make_org(customers=450, invoices=0)
    org.control.inject("contacts.list", "429", count=3, organization_id=org.organization_id)
    org.control.inject("contacts.list", "500", count=1, organization_id=org.organization_id)
    org.control.inject("contacts.list", "503", count=1, organization_id=org.organization_id)
    client = zoho_client(db, org.tenant(db))
    ids = [row["contact_id"] for page in _contact_pages(client) for row in page.rows]
    assert len(ids) == len(set(ids)) == 450
    assert set(ids) == _customer_ids(org)
    assert client.retries == 5
    assert client.calls_by_endpoint["contacts.list"] == 3 + 5


def test_rate_limit_that_does_not_clear_becomes_a_transient_error(db: Database, make_org: MakeOrg) -> None:
    org = make_org()
    org.control.inject("contacts.get", "429", count=10, organization_id=org.organization_id)
    client = zoho_client(db, org.tenant(db))
    with pytest.raises(ZohoRateLimited, match=r"contacts.get: gave up after 5 attempts \(HTTP 429 \(code 44\)\)"):
        client.get_contact("123")
    org.control.clear_faults()
    org.control.inject("invoices.get", "500", count=10, organization_id=org.organization_id)
    with pytest.raises(ZohoUnavailable, match=r"invoices\.get: gave up after 5 attempts"):
        client.get_invoice("123")


def test_hang_times_out_then_retries(db: Database, make_org: MakeOrg, configure: Callable[..., None]) -> None:
    configure(ZOHO_READ_TIMEOUT_SECONDS="0.4")
    org = make_org()
    org.control.configure(hang_seconds=3)
    client = zoho_client(db, org.tenant(db))
    client.get_organization()
    org.control.inject("organizations.get", "hang", count=1, organization_id=org.organization_id)
    started = time.monotonic()
    assert client.get_organization()["organization_id"] == org.organization_id
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 2.5
    assert client.retries == 1


@pytest.mark.parametrize(
    ("kind", "count", "error", "message"),
    [
        ("malformed", 5, ZohoProtocolError, "contacts.list: malformed JSON in 5 answers"),
        ("html", 5, ZohoProtocolError, "contacts.list: malformed JSON in 5 answers"),
        ("code_nonzero", 1, ZohoProtocolError, "contacts.list: HTTP 200 with code 1"),
        ("missing_key", 1, ZohoProtocolError, "contacts.list: answer lacks the list 'contacts'"),
        ("empty_page_more", 1, ZohoProtocolError, "contacts.list: page 1 is empty but has_more_page is true"),
    ],
)
def test_answers_that_break_the_protocol_raise_a_protocol_error_naming_the_endpoint(
    db: Database, make_org: MakeOrg, kind: str, count: int, error: type[ZohoError], message: str
) -> None:
    org = make_org()
    org.control.inject("contacts.list", kind, count=count, organization_id=org.organization_id)
    client = zoho_client(db, org.tenant(db))
    with pytest.raises(error) as raised:
        client.contacts_page(None)
    assert str(raised.value).startswith(message)


def test_one_malformed_answer_is_retried(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=5)
    org.control.inject("contacts.list", "malformed", count=1, organization_id=org.organization_id)
    client = zoho_client(db, org.tenant(db))
    assert len(client.contacts_page(None).rows) == 5
    assert client.retries == 1


def test_not_found_and_other_client_errors_are_typed(db: Database, make_org: MakeOrg) -> None:
    org = make_org()
    client = zoho_client(db, org.tenant(db))
    with pytest.raises(ZohoNotFound, match=r"contacts.get: not found \(code 1002\)"):
        client.get_contact("999999")
    other = make_org()
    # Point this tenant's client at an organization its token was not granted for.
    foreign = zoho_client(db, org.tenant(db))
    foreign.organization_id = other.organization_id
    with pytest.raises(ZohoApiError) as raised:
        foreign.get_contact("1")
    assert raised.value.status == 400
    assert raised.value.code == 6041


def test_daily_budget_stops_before_it_is_exceeded(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=450, daily_call_budget=5)
    client = zoho_client(db, org.tenant(db))
    for _ in range(5):
        client.get_organization()
    with pytest.raises(DailyBudgetReached, match="today's budget of 5 Zoho calls"):
        client.get_organization()
    assert api_usage.calls_today(db, org.organization_id) == 5
    assert sum(_org_calls(org).values()) == 5  # the emulator saw exactly the budget


def test_zoho_daily_limit_answer_is_a_budget_stop(db: Database, make_org: MakeOrg) -> None:
    org = make_org(daily_call_budget=1000)
    org.control.inject("contacts.list", "daily_limit", count=1, organization_id=org.organization_id)
    client = zoho_client(db, org.tenant(db))
    with pytest.raises(DailyBudgetReached, match="daily API limit"):
        client.contacts_page(None)
    assert api_usage.calls_today(db, org.organization_id) == 1  # our own count: Zoho said spent, not how many
    with pytest.raises(DailyBudgetReached):
        client.get_organization()
    assert sum(_org_calls(org).values()) == 1  # the spent quota kept the second call from Zoho


def test_pacing_keeps_429s_at_zero_under_the_emulator_rate_limit(
    db: Database, make_org: MakeOrg, configure: Callable[..., None]
) -> None:
    configure(ZOHO_RATE_LIMIT_CALLS="10", ZOHO_RATE_LIMIT_WINDOW_SECONDS="1")
    org = make_org()
    client = zoho_client(db, org.tenant(db))
    client.get_organization()  # token first, outside the measured window
    org.control.rate_limit(10, 1.0)
    org.control.reset_stats()
    started = time.monotonic()
    for _ in range(35):
        client.get_organization()
    elapsed = time.monotonic() - started
    stats = org.control.stats()
    assert stats["statuses"].get("429", 0) == 0
    assert client.retries == 0
    assert elapsed >= 2.0  # 35 calls at 10/s cannot finish in under ~2.5 s without bursting


def test_calls_inside_a_transaction_are_refused(db: Database, make_org: MakeOrg) -> None:
    org = make_org()
    client = zoho_client(db, org.tenant(db))
    with db.transaction(), pytest.raises(RuntimeError, match="inside a database transaction"):
        client.get_organization()
