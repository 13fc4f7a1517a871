"""The emulator's `documented` profile: Zoho as its API reference describes it, next to `observed`.

Everything goes over HTTP, through the token endpoint and the control API, as the pipeline's tests do.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.integration.test_emulator import bearer, fetch, parsed
from zoho_emulator.control import EmulatorControl
from zoho_emulator.server import RunningEmulator

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _list(emulator: RunningEmulator, headers: dict[str, str], org: str, kind: str, **params: Any) -> dict[str, Any]:
    """One page of a list endpoint, asserting it answered 200."""
    answer = fetch(emulator, headers, kind, organization_id=org, **params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _zoho_time(raw: str) -> str:
    """A last_modified_time as a client sends it back."""
    return parsed(raw).strftime("%Y-%m-%dT%H:%M:%S%z")


def test_contacts_list_ignores_undocumented_filters(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    zoho.add_org("doc-contacts", profile="documented", seed=5, customers=60, vendors=6, invoices=0)
    headers = bearer(emulator, zoho, "doc-contacts")
    everything = zoho.snapshot("doc-contacts")["contacts"]
    latest = max(everything, key=lambda c: parsed(c["last_modified_time"]))
    page = _list(
        emulator,
        headers,
        "doc-contacts",
        "contacts",
        contact_type="customer",
        last_modified_time=_zoho_time(latest["last_modified_time"]),
        sort_column="last_modified_time",
        sort_order="A",
    )
    rows = page["contacts"]
    assert len(rows) == len(everything) == 66  # vendors too, and nothing filtered by time
    times = [parsed(r["last_modified_time"]) for r in rows]
    assert times == sorted(times)  # last_modified_time is a documented contacts sort column
    context = page["page_context"]
    assert isinstance(context, dict)
    assert (context["has_more_page"], context["report_name"], context["applied_filter"]) == (
        False,
        "Contacts",
        "Status.All",
    )
    assert all("payment_reminder_enabled" not in r and "contact_persons" not in r for r in rows)

    zoho.reset_stats()
    unknown = fetch(emulator, headers, "contacts", organization_id="doc-contacts", sort_column="date", sort_order="D")
    assert unknown.status_code == 400 and "sort_column ('date' is not one of" in unknown.json()["message"]
    undocumented = fetch(emulator, headers, "contacts", organization_id="doc-contacts", colour="blue")
    assert undocumented.status_code == 400 and "colour: not a parameter Zoho's reference documents" in undocumented.text
    assert len(zoho.stats()["off_reference"]) == 2  # remembered, for the tests that expect none

    zoho.configure_org("doc-contacts", profile="observed")
    observed = _list(emulator, headers, "doc-contacts", "contacts", contact_type="customer")["contacts"]
    assert len(observed) == 60
    assert fetch(emulator, headers, "contacts", organization_id="doc-contacts", sort_column="bogus").status_code == 400


def test_invoices_modified_filter_is_strictly_greater(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    zoho.add_org("doc-strict", profile="documented", seed=8, customers=10, invoices=40)
    headers = bearer(emulator, zoho, "doc-strict")
    edited = [i["invoice_id"] for i in zoho.snapshot("doc-strict")["invoices"][:3]]
    zoho.advance_clock(60)
    zoho.freeze_clock(True)
    (moment,) = {zoho.update_invoice("doc-strict", i, reference_number="bulk")["last_modified_time"] for i in edited}
    zoho.freeze_clock(False)
    zoho.advance_clock(5)
    later = zoho.update_invoice("doc-strict", zoho.snapshot("doc-strict")["invoices"][3]["invoice_id"], total=1.0)

    strict = _list(emulator, headers, "doc-strict", "invoices", last_modified_time=_zoho_time(moment))["invoices"]
    assert [r["invoice_id"] for r in strict] == [later["invoice_id"]]  # rows at exactly `moment` are not returned

    zoho.configure_org("doc-strict", profile="observed")
    inclusive = _list(emulator, headers, "doc-strict", "invoices", last_modified_time=_zoho_time(moment))["invoices"]
    assert {r["invoice_id"] for r in inclusive} == {*edited, later["invoice_id"]}


def test_invoices_default_order_and_page_context_array(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    zoho.add_org("doc-order", profile="documented", seed=13, customers=40, invoices=500)
    headers = bearer(emulator, zoho, "doc-order")
    refused = fetch(emulator, headers, "invoices", organization_id="doc-order", sort_column="last_modified_time")
    assert refused.status_code == 400  # not a documented sort column for invoices
    page = _list(emulator, headers, "doc-order", "invoices")
    rows = page["invoices"]
    keys = [(r["date"], parsed(r["created_time"]), r["invoice_id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)  # the default order: newest date, then newest created, then id
    assert len({r["date"] for r in rows}) < len(rows)  # there were ties to break
    assert page["page_context"] == [
        {
            "page": 1,
            "per_page": 200,
            "has_more_page": True,
            "report_name": "Invoices",
            "applied_filter": "Status.All",
            "sort_column": "created_time",
            "sort_order": "D",
        }
    ]

    by_total = _list(emulator, headers, "doc-order", "invoices", sort_column="total", sort_order="A")["invoices"]
    totals = [r["total"] for r in by_total]
    assert totals == sorted(totals)
    overdue = _list(emulator, headers, "doc-order", "invoices", filter_by="Status.OverDue")
    assert overdue["invoices"] and {r["status"] for r in overdue["invoices"]} == {"overdue"}
    assert overdue["page_context"][0]["applied_filter"] == "Status.OverDue"

    expected = [r["payment_expected_date"] for r in rows]
    assert "" in expected and " " in expected
    assert any(DATE.fullmatch(value) for value in expected)


def test_organization_shape(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    zoho.add_org("doc-org-us", profile="documented", country_code="US", customers=2, invoices=0)
    zoho.add_org("doc-org-in", profile="documented", country_code="IN", customers=2, invoices=0)
    zoho.add_org("obs-org-us", country_code="US", customers=2, invoices=0)
    shapes: dict[str, dict[str, Any]] = {}
    for org in ("doc-org-us", "doc-org-in", "obs-org-us"):
        answer = fetch(emulator, bearer(emulator, zoho, org), f"organizations/{org}", organization_id=org)
        shapes[org] = answer.json()["organization"]
    for org in ("doc-org-us", "doc-org-in"):
        assert "country" not in shapes[org] and "country_code" not in shapes[org]
    assert (shapes["doc-org-us"]["address"]["country"], shapes["doc-org-us"]["time_zone"]) == ("U.S.A", "PST")
    assert (shapes["doc-org-in"]["address"]["country"], shapes["doc-org-in"]["time_zone"]) == ("India", "IST")
    assert (shapes["obs-org-us"]["country_code"], shapes["obs-org-us"]["time_zone"]) == ("US", "America/Los_Angeles")
    assert zoho.snapshot("doc-org-us")["organization"] == shapes["doc-org-us"]


def test_rate_limit_headers_and_spent_calls(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    zoho.add_org("hdr-observed", customers=2, invoices=0)
    zoho.add_org("hdr-documented", profile="documented", daily_limit=50, customers=2, invoices=0)
    observed, documented = (bearer(emulator, zoho, org) for org in ("hdr-observed", "hdr-documented"))

    def call(headers: dict[str, str], org: str) -> requests.Response:
        return fetch(emulator, headers, f"organizations/{org}", organization_id=org)

    first, second = call(observed, "hdr-observed"), call(observed, "hdr-observed")
    assert first.headers["X-Rate-Limit-Limit"] == "10000"  # no daily limit set: the plan default
    assert int(second.headers["X-Rate-Limit-Remaining"]) == int(first.headers["X-Rate-Limit-Remaining"]) - 1
    assert 0 < int(first.headers["X-Rate-Limit-Reset"]) <= 86400

    assert "X-Rate-Limit-Limit" not in call(documented, "hdr-documented").headers
    zoho.configure_org("hdr-documented", rate_limit_headers=True)
    shown = call(documented, "hdr-documented")
    assert (shown.headers["X-Rate-Limit-Limit"], shown.headers["X-Rate-Limit-Remaining"]) == ("50", "48")
    assert zoho.spend_calls("hdr-documented", 40)["remaining"] == 8  # another app on the same organization
    assert call(documented, "hdr-documented").headers["X-Rate-Limit-Remaining"] == "7"
    assert zoho.spend_calls("hdr-documented", 7)["remaining"] == 0
    refused = call(documented, "hdr-documented")
    assert (refused.status_code, refused.json()["code"], refused.headers["X-Rate-Limit-Remaining"]) == (429, 45, "0")

    try:
        zoho.configure(rate_limit_headers=False)
        assert "X-Rate-Limit-Limit" not in call(observed, "hdr-observed").headers
        zoho.configure_org("hdr-documented", daily_limit=None)  # the organization's own choice still wins
        assert call(documented, "hdr-documented").headers["X-Rate-Limit-Limit"] == "10000"
    finally:
        zoho.configure(rate_limit_headers=None)


@pytest.mark.parametrize("profile", ["observed", "documented"])
def test_reminder_and_channel_preferences(emulator: RunningEmulator, zoho: EmulatorControl, profile: str) -> None:
    org = f"prefs-{profile}"
    zoho.add_org(org, profile=profile, seed=21, customers=400, invoices=0)
    customers = [c for c in zoho.snapshot(org)["contacts"] if c["contact_type"] == "customer"]
    reminders_off = sum(1 for c in customers if c["payment_reminder_enabled"] is False)
    assert all(isinstance(c["payment_reminder_enabled"], bool) for c in customers)
    assert 0.01 < reminders_off / len(customers) < 0.12
    persons = [p for c in customers for p in c["contact_persons"]]
    preferences = [p["communication_preference"] for p in persons]
    assert all(isinstance(p["is_primary_contact"], bool) for p in persons)
    for channel in ("is_sms_enabled", "is_whatsapp_enabled"):
        enabled = [preference[channel] for preference in preferences]
        assert all(isinstance(flag, bool) for flag in enabled) and 0.6 < sum(enabled) / len(enabled) < 1

    target = next(c for c in customers if c["contact_persons"] and c["payment_reminder_enabled"])
    person = target["contact_persons"][0]
    zoho.update_contact(org, target["contact_id"], payment_reminder_enabled=False)
    zoho.set_communication_preference(org, target["contact_id"], person["contact_person_id"], is_whatsapp_enabled=False)
    headers = bearer(emulator, zoho, org)
    detail = fetch(emulator, headers, f"contacts/{target['contact_id']}", organization_id=org).json()["contact"]
    assert detail["payment_reminder_enabled"] is False
    changed = next(p for p in detail["contact_persons"] if p["contact_person_id"] == person["contact_person_id"])
    assert changed["communication_preference"] == {
        "is_sms_enabled": person["communication_preference"]["is_sms_enabled"],
        "is_whatsapp_enabled": False,
    }
    assert parsed(detail["last_modified_time"]) >= parsed(target["last_modified_time"])


def test_strings_and_dates_that_break_naive_code(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    zoho.add_org("doc-odd", profile="documented", seed=4, customers=5, invoices=6)
    headers = bearer(emulator, zoho, "doc-odd")
    snapshot = zoho.snapshot("doc-odd")
    contact_id = snapshot["contacts"][0]["contact_id"]
    edited = zoho.update_contact("doc-odd", contact_id, contact_name="Nul\x00byte", company_name="half an emoji \ud83d")
    assert (edited["contact_name"], edited["company_name"]) == ("Nul\x00byte", "half an emoji \ud83d")
    answer = fetch(emulator, headers, f"contacts/{contact_id}", organization_id="doc-odd")
    assert answer.status_code == 200 and b"\\ud83d" in answer.content  # UTF-8 cannot carry it: an escape
    assert answer.json()["contact"]["company_name"] == "half an emoji \ud83d"
    rows = _list(emulator, headers, "doc-odd", "contacts")["contacts"]
    assert "Nul\x00byte" in [r["contact_name"] for r in rows]

    invoice_id = snapshot["invoices"][0]["invoice_id"]
    zoho.update_invoice("doc-odd", invoice_id, date="0000-00-00", due_date="9999-12-31", payment_expected_date=" ")
    invoices = _list(emulator, headers, "doc-odd", "invoices")["invoices"]
    assert invoices[-1]["invoice_id"] == invoice_id  # newest date first: "0000-00-00" sorts last
    assert (invoices[-1]["date"], invoices[-1]["due_date"]) == ("0000-00-00", "9999-12-31")


def test_error_codes(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    zoho.add_org("doc-errors", profile="documented", customers=3, invoices=3)
    headers = bearer(emulator, zoho, "doc-errors")
    contact_id = zoho.snapshot("doc-errors")["contacts"][0]["contact_id"]
    for path in ("contacts/0000", "invoices/0000"):
        missing = fetch(emulator, headers, path, organization_id="doc-errors")
        assert (missing.status_code, missing.json()["code"]) == (404, 1002)

    zoho.inject("contacts.get", "invalid_id", organization_id="doc-errors")
    invalid = fetch(emulator, headers, f"contacts/{contact_id}", organization_id="doc-errors")
    assert (invalid.status_code, invalid.json()) == (400, {"code": 2, "message": "Invalid value passed for contact_id"})
    assert fetch(emulator, headers, f"contacts/{contact_id}", organization_id="doc-errors").status_code == 200

    try:
        zoho.configure(max_concurrent=1, latency_seconds=0.5)  # the slot is held until the answer is sent
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: fetch(emulator, headers, "contacts", organization_id="doc-errors"), "ab"))
        assert sorted((a.status_code, a.json()["code"]) for a in answers) == [(200, 0), (429, 1070)]
    finally:
        zoho.configure(max_concurrent=None, latency_seconds=0)
    assert fetch(emulator, headers, "contacts", organization_id="doc-errors").status_code == 200


def test_profile_choice_and_validation(zoho: EmulatorControl) -> None:
    assert zoho.add_org("choice-default", customers=1, invoices=0)["profile"] == "observed"
    try:
        zoho.configure(profile="documented")
        assert zoho.add_org("choice-configured", customers=1, invoices=0)["profile"] == "documented"
        assert zoho.add_org("choice-explicit", profile="observed", customers=1, invoices=0)["profile"] == "observed"
    finally:
        zoho.configure(profile="observed")
    for bad in ({"profile": "guessed"}, {"bogus_setting": 1}, {"rate_limit_headers": "yes"}, {"hang_seconds": -1}):
        with pytest.raises(RuntimeError, match="HTTP 400"):
            zoho.configure(**bad)
    with pytest.raises(RuntimeError, match="HTTP 400"):
        zoho.add_org("choice-bad", profile="guessed")
    with pytest.raises(RuntimeError, match="HTTP 400"):
        zoho.spend_calls("no-such-org", 1)
