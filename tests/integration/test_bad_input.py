"""Bad input, table-driven: malformed events into every handler, malformed Zoho data through the steps.

Each row either fails with an error that names the problem or is handled with a logged reason,
and in both cases nothing committed is lost or corrupted: a failed event changes no row at all;
a malformed Zoho answer leaves every stored value at what it was or at what Zoho really holds,
cursors stay behind committed data, and once Zoho answers properly again the tenant ends exactly
where a tenant that never saw the fault ends.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from books_sync.db import Database
from books_sync.errors import EventError, TenantNotActive, UnknownTenant
from books_sync.storage import tenants as tenant_store
from tenants.handler import lambda_handler as tenants_handler
from tests.support import HANDLERS, MakeOrg, Org, assert_cursors_behind_data, run_until_success, work_listed
from zoho_sync_cli.lambda_context import LocalLambdaContext
from zoho_sync_cli.pipeline import run_tenant

pytestmark = pytest.mark.reliability

STEPS = ("customer-sync", "invoice-sync", "reminders")
TABLES = (
    "users", "zoho_connections", "sync_metadata", "customers_cache", "invoices_cache", "reminders",
    "invoice_sync_skips", "zoho_api_usage",
)  # fmt: skip
WHOLE_TABLE = {table: f"SELECT t::text FROM {table} AS t ORDER BY 1" for table in TABLES}  # noqa: S608 - fixed names
HUGE = "x" * 1_000_000
ME = "<the tenant>"  # replaced by the test's user id
DISABLED = "<a disabled tenant>"
NEEDS_REAUTH = "<a tenant needing re-authorization>"


def everything(db: Database) -> dict[str, list[str]]:
    """Every row of every table, as text: the whole committed state."""
    return {table: [row[0] for row in db.run(query)] for table, query in WHOLE_TABLE.items()}


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    if isinstance(value, dict):
        return {fill(k, names): fill(v, names) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------------------------- events

STEP_EVENT_ERRORS: list[tuple[str, Any, type[Exception], str]] = [
    ("not an object", None, EventError, r"^event: expected a JSON object, got NoneType$"),
    ("a string", "u1", EventError, r"^event: expected a JSON object, got str$"),
    ("a list", [{"userId": ME}], EventError, r"^event: expected a JSON object, got list$"),
    ("missing userId", {}, EventError, r"^userId: required$"),
    ("missing userId, fullResync only", {"fullResync": True}, EventError, r"^userId: required$"),
    ("userId a number", {"userId": 7}, EventError, r"^userId: expected a string, got int$"),
    ("userId null", {"userId": None}, EventError, r"^userId: expected a string, got NoneType$"),
    ("userId a list", {"userId": [ME]}, EventError, r"^userId: expected a string, got list$"),
    ("userId empty", {"userId": ""}, EventError, r"^userId: '' is not a valid user id"),
    ("userId with SQL", {"userId": "u1'; DROP TABLE users;--"}, EventError, r"is not a valid user id"),
    ("fullResync a string", {"userId": ME, "fullResync": "yes"}, EventError,
     r"^fullResync: expected true or false, got str$"),
    ("fullResync a number", {"userId": ME, "fullResync": 1}, EventError,
     r"^fullResync: expected true or false, got int$"),
    ("misspelled field", {"userid": ME}, EventError, r"^event: unknown field\(s\) 'userid' \(expected userId"),
    ("huge userId", {"userId": HUGE}, EventError, r"^userId: 'x{40}\.\.\.' is not a valid user id"),
    ("huge unknown field", {"userId": ME, HUGE: 1}, EventError, r"^event: unknown field\(s\) 'x{40}\.\.\.'"),
    ("many unknown fields", {"userId": ME, **{f"f{i}": i for i in range(10_000)}}, EventError,
     r"^event: unknown field\(s\) 'f0', 'f1', 'f10', 'f100', 'f1000' and 9995 more"),
    ("unknown tenant", {"userId": "ghost"}, UnknownTenant, r"^unknown tenant 'ghost'$"),
    ("disabled tenant", {"userId": DISABLED}, TenantNotActive, r"is disabled \(paused by the owner\)$"),
    ("tenant needing re-auth", {"userId": NEEDS_REAUTH}, TenantNotActive,
     r"is needs_reauth \(refresh token revoked\)$"),
]  # fmt: skip
LIST_EVENT_ERRORS: list[tuple[str, Any, type[Exception], str]] = [
    ("a string", "all", EventError, r"^event: expected a JSON object, got str$"),
    ("userIds a string", {"userIds": ME}, EventError, r"^userIds: expected a list of user ids, got str$"),
    ("userIds empty", {"userIds": []}, EventError, r"^userIds: empty list"),
    ("userIds with a number", {"userIds": [ME, 2]}, EventError, r"^userIds\[1\]: expected a string, got int$"),
    ("userIds with null", {"userIds": [None]}, EventError, r"^userIds\[0\]: expected a string, got NoneType$"),
    ("huge userIds list", {"userIds": [ME] * 100_000}, EventError, r"^userIds: 100000 ids, at most 1000"),
    ("huge user id in the list", {"userIds": [HUGE]}, EventError, r"^userIds\[0\]: 'x{40}\.\.\.' is not a valid"),
    ("fullResync a string", {"fullResync": "true"}, EventError, r"^fullResync: expected true or false, got str$"),
    ("misspelled field", {"userID": [ME]}, EventError, r"^event: unknown field\(s\) 'userID'"),
]  # fmt: skip
BATCH_EVENT_ERRORS: list[tuple[str, Any, type[Exception], str]] = [
    ("a list", [{"userId": ME}], EventError, r"^event: expected a JSON object, got list$"),
    ("no Items", {"BatchInput": {}}, EventError, r"^Items: expected a list of 1-1000 \{userId\} objects$"),
    ("Items empty", {"Items": []}, EventError, r"^Items: expected a list of 1-1000"),
    ("an item a string", {"Items": [ME]}, EventError, r"^Items\[0\]: expected an object \{userId\}$"),
    ("an item without userId", {"Items": [{}]}, EventError, r"^Items\[0\].userId: expected a string, got NoneType$"),
    ("a bad userId", {"Items": [{"userId": HUGE}]}, EventError, r"^Items\[0\].userId: 'x{40}\.\.\.' is not a valid"),
    ("BatchInput fullResync a string", {"Items": [{"userId": ME}], "BatchInput": {"fullResync": "no"}}, EventError,
     r"^fullResync: expected true or false, got str$"),
    ("BatchInput unknown field", {"Items": [{"userId": ME}], "BatchInput": {"userId": ME}}, EventError,
     r"^event: unknown field\(s\) 'userId' \(expected executionId"),
]  # fmt: skip
EXECUTION_EVENT_ERRORS: list[tuple[str, Any, type[Exception], str]] = [
    ("no executionId", {"selection": {}}, EventError, r"^executionId: required$"),
    ("selection a list", {"executionId": "x", "selection": []}, EventError, r"^selection: expected ListTenants"),
    ("no work lists", {"executionId": "x", "selection": {}}, EventError, r"^selection.workLists: expected"),
    ("a work list without key", {"executionId": "x", "selection": {"workLists": {"quiet": {"bucket": "b"}}}},
     EventError, r"^selection.workLists.quiet: expected a work list"),
]  # fmt: skip
CAUGHT_EVENT_ERRORS: list[tuple[str, Any, type[Exception], str]] = [
    ("no executionId", {"userId": ME, "error": {"Error": "X"}}, EventError, r"^executionId: required$"),
    ("no userId", {"executionId": "x", "error": {"Error": "X"}}, EventError, r"^userId: expected a string"),
    ("error a string", {"userId": ME, "executionId": "x", "error": "X"}, EventError, r"^error: expected the Catch"),
    ("an unknown field", {"userId": ME, "executionId": "x", "error": {"Error": "X"}, "step": "reminders"}, EventError,
     r"^event: unknown field\(s\) 'step'"),
]  # fmt: skip
EVENT_ERRORS = (
    [
        pytest.param(step, event, error, message, id=f"{step}: {name}")
        for step in STEPS
        for name, event, error, message in STEP_EVENT_ERRORS
    ]
    + [
        pytest.param("tenants", event, error, message, id=f"tenants: {name}")
        for name, event, error, message in LIST_EVENT_ERRORS
    ]
    + [
        pytest.param("tenant-batch", event, error, message, id=f"tenant-batch: {name}")
        for name, event, error, message in BATCH_EVENT_ERRORS
    ]
    + [
        pytest.param(step, event, error, message, id=f"{step}: {name}")
        for step in ("rest-tenants", "summarize")
        for name, event, error, message in EXECUTION_EVENT_ERRORS
    ]
    + [
        pytest.param("record-failure", event, error, message, id=f"record-failure: {name}")
        for name, event, error, message in CAUGHT_EVENT_ERRORS
    ]
)


@pytest.fixture
def synced(db: Database, make_org: MakeOrg) -> dict[str, str]:
    """A synced tenant, a disabled one and one needing re-auth: committed data a bad event must not touch."""
    org = make_org(customers=12, invoices=30, seed=3)
    assert run_tenant(org.user_id).error is None
    disabled = make_org(customers=3, invoices=3, seed=4)
    assert run_tenant(disabled.user_id).error is None
    tenant_store.set_status(db, disabled.user_id, "disabled", "paused by the owner")
    revoked = make_org(customers=3, invoices=3, seed=5)
    tenant_store.set_status(db, revoked.user_id, "needs_reauth", "refresh token revoked")
    return {ME: org.user_id, DISABLED: disabled.user_id, NEEDS_REAUTH: revoked.user_id}


@pytest.mark.parametrize(("step", "event", "error", "message"), EVENT_ERRORS)
def test_a_malformed_event_fails_naming_the_problem_and_changes_nothing(
    db: Database, synced: dict[str, str], step: str, event: Any, error: type[Exception], message: str
) -> None:
    before = everything(db)
    with pytest.raises(error) as raised:
        HANDLERS[step](fill(event, synced), LocalLambdaContext(step))
    text = str(raised.value)
    assert re.search(message, text), text
    assert len(text) < 300, "a huge input must not make a huge error message"
    assert everything(db) == before


INACTIVE = [[DISABLED, "disabled", "paused by the owner"], [NEEDS_REAUTH, "needs_reauth", "refresh token revoked"]]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(None, {"tenants": [ME], "notSynced": INACTIVE}, id="null event means every tenant"),
        pytest.param({"userIds": ["ghost", ME]}, {"tenants": [ME], "unknownUserIds": ["ghost"]}, id="unknown tenant"),
        pytest.param({"userIds": [DISABLED, NEEDS_REAUTH, ME, ME]}, {"tenants": [ME], "notSynced": INACTIVE},
                     id="inactive tenants and a repeated id"),
    ],
)  # fmt: skip
def test_the_tenant_list_reports_unknown_and_inactive_tenants_instead_of_failing(
    db: Database, synced: dict[str, str], event: Any, expected: dict[str, Any], work_lists: str
) -> None:
    before = everything(db)
    output = tenants_handler(fill(event, synced), LocalLambdaContext("tenants"))
    expected = fill(expected, synced)
    assert sorted(work_listed(output)) == expected["tenants"]
    assert output["unknownUserIds"] == expected.get("unknownUserIds", [])
    not_synced = sorted([n["userId"], n["status"], n["reason"]] for n in output["notSynced"])
    assert not_synced == sorted(expected.get("notSynced", []))
    assert output["needsReauth"] == [n[0] for n in not_synced if n[1] == "needs_reauth"]
    assert everything(db) == before


# ---------------------------------------------------------------------------------------- Zoho data


def mirror(db: Database, user_id: str) -> dict[str, dict[tuple[str, ...], dict[str, Any]]]:
    """The tenant's synced rows keyed by Zoho ids, without local ids and timestamps."""
    customers = db.rows(
        "SELECT zoho_customer_id, customer_name, primary_phone, primary_email, contact_persons::text AS persons, "
        "country_code, timezone, zoho_last_modified_at, sync_hash, deleted_at IS NULL AS live, "
        "detail_hash IS NOT DISTINCT FROM sync_hash AS detail_current "
        "FROM customers_cache WHERE user_id = :u",
        u=user_id,
    )
    invoices = db.rows(
        "SELECT i.zoho_invoice_id, c.zoho_customer_id, i.invoice_number, i.status, i.invoice_date, i.due_date, "
        "i.total, i.balance, i.currency_code, i.zoho_last_modified_at, i.deleted_at IS NULL AS live "
        "FROM invoices_cache AS i JOIN customers_cache AS c ON c.id = i.customer_id WHERE i.user_id = :u",
        u=user_id,
    )
    reminders = db.rows(
        "SELECT i.zoho_invoice_id, r.offset_days::text AS offset_days, r.scheduled_for, r.status, r.cancel_reason "
        "FROM reminders AS r JOIN invoices_cache AS i ON i.id = r.invoice_id WHERE r.user_id = :u",
        u=user_id,
    )
    return {
        "customers": {(r.pop("zoho_customer_id"),): r for r in customers},
        "invoices": {(r.pop("zoho_invoice_id"),): r for r in invoices},
        "reminders": {(r.pop("zoho_invoice_id"), r.pop("offset_days")): r for r in reminders},
    }


_FROM_THE_DETAIL = ("persons", "primary_phone", "primary_email", "country_code", "timezone", "detail_current")


def assert_nothing_lost_or_corrupted(
    before: dict[str, dict[tuple[str, ...], dict[str, Any]]],
    after: dict[str, dict[tuple[str, ...], dict[str, Any]]],
    truth: dict[str, dict[tuple[str, ...], dict[str, Any]]],
) -> None:
    """Every stored value is the one committed before or the one Zoho really holds; no row disappeared.

    A customer whose detail is not read yet (or could not be) is kept from its list row, its detail
    queued: what only the detail tells (persons, the phone chosen among them, the billing country
    and zone) is not known yet.
    """
    for table in ("customers", "invoices", "reminders"):
        lost = sorted(set(before[table]) - set(after[table]))
        assert lost == [], f"{table} lost {lost[:3]}"
        for key, row in after[table].items():
            old, real = before[table].get(key, {}), truth[table].get(key, {})
            for column, value in row.items():
                if table == "customers" and not row["detail_current"] and column in _FROM_THE_DETAIL:
                    continue
                assert value in (old.get(column), real.get(column)), (table, key, column, value)


def edit_in_zoho(org: Org, *, limit: int | None = None, spread: bool = False) -> None:
    """Rename most contacts and change most invoices (or only `limit` of each).

    All at once, the next incremental run reads two pages of contacts and two of invoices, every
    row modified in the same second (a bulk edit: ties wider than a page); `spread` gives each
    change its own second instead.
    """
    snapshot = org.control.snapshot(org.organization_id)
    oid = org.organization_id
    org.control.advance_clock(60)
    org.control.freeze_clock(not spread)
    contacts = [c for i, c in enumerate(c for c in snapshot["contacts"] if c["contact_type"] == "customer") if i % 12]
    for contact in contacts[:limit]:
        if spread:
            org.control.advance_clock(1)
        org.control.update_contact(oid, contact["contact_id"], contact_name=f"{contact['contact_name']} (v2)")
    for invoice in [i for n, i in enumerate(snapshot["invoices"]) if n % 5][:limit]:
        if spread:
            org.control.advance_clock(1)
        if invoice["balance"] and int(invoice["invoice_id"][-3:]) % 7 == 0:
            org.control.pay_invoice(oid, invoice["invoice_id"])
        else:
            org.control.update_invoice(oid, invoice["invoice_id"], balance=round(invoice["total"] * 0.5, 2))
    org.control.create_contact(oid, contact_name="Brand new (v2)")
    org.control.freeze_clock(False)


def edit_a_few(org: Org) -> None:
    edit_in_zoho(org, limit=5)


def edit_one_by_one(org: Org) -> None:
    edit_in_zoho(org, spread=True)


def nasty_contacts(org: Org) -> None:
    """Odd contact data Zoho really sends: no persons, several primaries, invalid phones, unicode, huge strings."""
    oid = org.organization_id
    cases: list[dict[str, Any]] = [
        {"contact_name": "No persons", "contact_persons": [], "phone": "", "mobile": ""},
        {"contact_name": "Two primaries", "contact_persons": [
            {"contact_person_id": "p1", "first_name": "A", "phone": "+44 20 7946 0958", "is_primary_contact": True},
            {"contact_person_id": "p2", "first_name": "B", "mobile": "+1 212 555 0100", "is_primary_contact": True},
        ]},
        {"contact_name": "Invalid phone", "contact_persons": [
            {"contact_person_id": "p3", "mobile": "12", "phone": "not a number", "is_primary_contact": True}]},
        {"contact_name": "Ünïcødé 名前 🚀\u200b" + "長" * 30_000, "email": "ü@例え.jp"},
        {"contact_name": None, "contact_persons": None, "billing_country": 42},
    ]  # fmt: skip
    org.control.advance_clock(60)
    customers_by_id = [c for c in org.control.snapshot(oid)["contacts"] if c["contact_type"] == "customer"]
    for contact, changes in zip(customers_by_id, cases, strict=False):
        org.control.update_contact(oid, contact["contact_id"], **changes)


@dataclass(frozen=True)
class ZohoCase:
    endpoint: str | None  # None: no fault, `prepare` changes the data in Zoho instead
    kind: str = ""
    count: int = 1
    after: int = 0  # let this many calls through first (`after=1` on a list: the second page is the bad one)
    error: str | None = None  # the run fails with this (regex on "step: ErrorClass: message")
    logged: str | None = None  # a log line with this (regex) gives the reason
    prepare: Callable[[Org], None] | None = field(default=None)
    whole: bool = False  # the run itself already ends with every row Zoho holds


PERSISTENT = 40  # more bad answers than the client's retries and a step's attempts
ZOHO_CASES = {
    # contacts list
    "contacts page of nulls": ZohoCase(
        "contacts.list", "nulls", error=r"^customer-sync: ZohoProtocolError: contacts.list: page 1 brought no new "
        r"rows; the list is not advancing", logged=r"skipping a contact row.*row has no contact_id"),
    "contacts page of wrong types": ZohoCase(
        "contacts.list", "wrong_types", error=r"^customer-sync: ZohoProtocolError: contacts.list: page 1 brought no "
        r"new rows", logged=r"skipping a contact row"),
    "contacts last page of nulls": ZohoCase(
        "contacts.list", "nulls", logged=r"skipping a contact row.*row has no contact_id", prepare=edit_a_few),
    "contacts page with every row twice": ZohoCase(
        "contacts.list", "duplicate_rows", count=2, logged=r"a contacts page repeats rows", whole=True),
    "contacts page 2 repeats page 1, ties": ZohoCase(
        "contacts.list", "repeat_page", after=1, error=r"^customer-sync: ZohoProtocolError: contacts.list: page 2 "
        r"brought no new rows \(200 repeated rows already read\); the list is not advancing"),
    "contacts page 2 repeats page 1": ZohoCase(
        "contacts.list", "repeat_page", after=1, error=r"^customer-sync: ZohoProtocolError: contacts.list: page 2 "
        r"brought no new rows \(200 repeated rows already read\)", prepare=edit_one_by_one),
    "contacts empty page with has_more_page": ZohoCase(
        "contacts.list", "empty_page_more", error=r"^customer-sync: ZohoProtocolError: contacts.list: page 1 is "
        r"empty but has_more_page is true"),
    "contacts list without its key": ZohoCase(
        "contacts.list", "missing_key", error=r"^customer-sync: ZohoProtocolError: contacts.list: answer lacks the "
        r"list 'contacts'"),
    "contacts list with code 1": ZohoCase(
        "contacts.list", "code_nonzero", error=r"^customer-sync: ZohoProtocolError: contacts.list: HTTP 200 with code "
        r"1: Unknown error occurred"),
    "contacts list truncated JSON": ZohoCase(
        "contacts.list", "malformed", count=PERSISTENT, error=r"^customer-sync: ZohoProtocolError: contacts.list: "
        r"malformed JSON in \d+ answers"),
    "contacts list an HTML page": ZohoCase(
        "contacts.list", "html", count=PERSISTENT, error=r"^customer-sync: ZohoProtocolError: contacts.list: "
        r"malformed JSON in \d+ answers"),
    # contact details
    "contact details of nulls": ZohoCase("contacts.get", "nulls", count=5, logged=r"customer detail unusable"),
    "contact details of wrong types": ZohoCase(
        "contacts.get", "wrong_types", count=5, logged=r"customer detail unusable"),
    "contact details truncated JSON": ZohoCase(
        "contacts.get", "malformed", count=PERSISTENT, logged=r"customer detail unusable"),
    "odd contact data": ZohoCase(None, prepare=nasty_contacts, logged=r"no valid phone for a customer", whole=True),
    # invoices list
    "invoices page of nulls": ZohoCase(
        "invoices.list", "nulls", error=r"^invoice-sync: ZohoProtocolError: invoices.list: page 1 brought no usable "
        r"new rows", logged=r"skipping an invoice row"),
    "invoices page of wrong types": ZohoCase(
        "invoices.list", "wrong_types", error=r"^invoice-sync: ZohoProtocolError: invoices.list: page 1 brought no "
        r"usable new rows", logged=r"skipping an invoice row"),
    "invoices last page of nulls": ZohoCase(
        "invoices.list", "nulls", logged=r"skipping an invoice row.*invoice_id", prepare=edit_a_few),
    "invoices page with every row twice": ZohoCase(
        "invoices.list", "duplicate_rows", count=2, logged=r"an invoices page repeats rows", whole=True),
    "invoices page 2 repeats page 1": ZohoCase(
        "invoices.list", "repeat_page", after=1, error=r"^invoice-sync: ZohoProtocolError: invoices.list: page 2 "
        r"brought no usable new rows \(200 repeated rows already read\)", prepare=edit_one_by_one),
    "invoices empty page with has_more_page": ZohoCase(
        "invoices.list", "empty_page_more", error=r"^invoice-sync: ZohoProtocolError: invoices.list: page 1 is "
        r"empty but has_more_page is true"),
    "invoices list without its key": ZohoCase(
        "invoices.list", "missing_key", error=r"^invoice-sync: ZohoProtocolError: invoices.list: answer lacks the "
        r"list 'invoices'"),
    "invoices list truncated JSON": ZohoCase(
        "invoices.list", "malformed", count=PERSISTENT, error=r"^invoice-sync: ZohoProtocolError: invoices.list: "
        r"malformed JSON in \d+ answers"),
}  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(case, id=name) for name, case in ZOHO_CASES.items()])
def test_malformed_zoho_data_is_refused_or_skipped_and_loses_nothing(
    db: Database, make_org: MakeOrg, caplog: pytest.LogCaptureFixture, case: ZohoCase
) -> None:
    org = make_org(customers=240, invoices=300, seed=17)
    assert run_tenant(org.user_id).error is None
    (case.prepare or edit_in_zoho)(org)
    # The truth: a second tenant on the same Zoho organization, synced while Zoho answers properly.
    truth_user = f"{org.user_id}-truth"
    tenant_store.upsert(db, user_id=truth_user, organization_id=org.organization_id, refresh_token=org.refresh_token)
    assert run_tenant(truth_user).error is None
    truth = mirror(db, truth_user)
    before = mirror(db, org.user_id)
    caplog.clear()

    if case.endpoint is not None:
        oid = org.organization_id
        org.control.inject(case.endpoint, case.kind, count=case.count, after=case.after, organization_id=oid)
    faulty = run_tenant(org.user_id)
    logs = "\n".join(f"{r.getMessage()} {getattr(r, 'reason', '')}" for r in caplog.records)
    org.control.clear_faults()

    if case.error is None:
        assert faulty.error is None
    else:
        assert faulty.error is not None and re.search(case.error, faulty.error), faulty.error
        assert len(faulty.error) < 500
    if case.logged is not None:
        assert re.search(case.logged, logs), f"no log line matching {case.logged!r}"
    after = mirror(db, org.user_id)
    assert_nothing_lost_or_corrupted(before, after, truth)
    assert_cursors_behind_data(db, org.user_id)
    if case.whole:
        assert after == truth

    # Later, when what failed is due again (retries wait a growing time), the tenant catches up.
    db.run("UPDATE customers_cache SET detail_retry_at = now() WHERE user_id = :u", u=org.user_id)
    db.run("UPDATE invoice_sync_skips SET next_retry_at = now() WHERE user_id = :u", u=org.user_id)
    run_until_success(org.user_id, attempts=10)
    assert mirror(db, org.user_id) == truth
    assert_cursors_behind_data(db, org.user_id)
