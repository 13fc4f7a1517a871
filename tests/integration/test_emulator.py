"""The emulator itself: data that is realistic and nasty, filters, edits and limits over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import phonenumbers
import requests

from zoho_emulator.control import EmulatorControl
from zoho_emulator.server import RunningEmulator


def bearer(emulator: RunningEmulator, control: EmulatorControl, org: str) -> dict[str, str]:
    """An Authorization header for `org`, bought at the token endpoint as a real client would."""
    control.add_refresh_token(f"rt-{org}", [org])
    answer = requests.post(
        f"{emulator.accounts_base_url}/oauth/v2/token",
        data={"grant_type": "refresh_token", "client_id": emulator.emulator.client_id,
              "client_secret": emulator.emulator.client_secret, "refresh_token": f"rt-{org}"},
        timeout=5,
    ).json()  # fmt: skip
    return {"Authorization": f"Zoho-oauthtoken {answer['access_token']}"}


def fetch(emulator: RunningEmulator, headers: dict[str, str], path: str, **params: Any) -> requests.Response:
    """GET a Books API path over HTTP (no mocking)."""
    return requests.get(f"{emulator.api_base_url}/{path}", params=params, headers=headers, timeout=5)


def parsed(raw: str) -> datetime:
    """Zoho's `yyyy-MM-ddTHH:mm:ss+hhmm`."""
    return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S%z")


def test_same_seed_same_data(zoho: EmulatorControl) -> None:
    zoho.add_org("seed-a", seed=11, customers=60, invoices=100)
    zoho.add_org("seed-b", seed=11, customers=60, invoices=100)
    a, b = zoho.snapshot("seed-a"), zoho.snapshot("seed-b")
    assert [c["contact_name"] for c in a["contacts"]] == [c["contact_name"] for c in b["contacts"]]
    assert [i["total"] for i in a["invoices"]] == [i["total"] for i in b["invoices"]]


def test_data_is_realistic_and_nasty(zoho: EmulatorControl) -> None:
    zoho.add_org("nasty", seed=3, customers=1200, invoices=3000)
    snapshot = zoho.snapshot("nasty")
    customers = [c for c in snapshot["contacts"] if c["contact_type"] == "customer"]
    assert len(customers) == 1200
    assert any(c["contact_type"] == "vendor" for c in snapshot["contacts"])
    primaries = [sum(1 for p in c["contact_persons"] if p["is_primary_contact"]) for c in customers]
    assert 0 in primaries and 1 in primaries and max(primaries) >= 2
    assert any(not c["contact_persons"] for c in customers)
    assert any(len(c["contact_name"]) > 5000 for c in customers)
    assert any(not c["contact_name"].isascii() for c in customers)
    numbers = [p[k] for c in customers for p in c["contact_persons"] for k in ("phone", "mobile") if p[k]]
    assert any(n.startswith("+") for n in numbers) and any(not n.startswith("+") for n in numbers)

    def valid(number: str) -> bool:
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(number, "IN"))
        except phonenumbers.NumberParseException:
            return False

    assert any(not valid(n) for n in numbers)
    no_phone = [
        c for c in customers if not any(p["phone"] or p["mobile"] for p in c["contact_persons"]) and not c["mobile"]
    ]
    assert 0.05 < len(no_phone) / len(customers) < 0.4
    modified = [c["last_modified_time"] for c in customers]
    assert max(modified.count(m) for m in set(modified)) >= 250  # a bulk import: one timestamp, many contacts
    statuses = {i["status"] for i in snapshot["invoices"]}
    assert statuses == {"paid", "sent", "overdue", "partially_paid", "draft", "void"}


def test_lists_filter_by_modified_time_sort_and_page(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    zoho.add_org("lists", seed=5, customers=300, invoices=50)
    headers = bearer(emulator, zoho, "lists")
    everything = fetch(emulator, headers, "contacts", organization_id="lists", contact_type="customer",
                       sort_column="last_modified_time", sort_order="A", page=1, per_page=200).json()  # fmt: skip
    rows = everything["contacts"]
    assert everything["page_context"]["has_more_page"] is True
    times = [parsed(r["last_modified_time"]) for r in rows]
    assert times == sorted(times)
    since = times[150]
    filtered = fetch(emulator, headers, "contacts", organization_id="lists", contact_type="customer",
                     sort_column="last_modified_time", sort_order="A",
                     last_modified_time=since.strftime("%Y-%m-%dT%H:%M:%S%z")).json()["contacts"]  # fmt: skip
    assert all(parsed(r["last_modified_time"]) >= since for r in filtered)
    assert filtered[0]["contact_id"] == rows[150]["contact_id"] or parsed(filtered[0]["last_modified_time"]) == since
    assert "contact_persons" not in rows[0]  # list rows carry the primary person's fields only
    detail = fetch(emulator, headers, f"contacts/{rows[0]['contact_id']}", organization_id="lists").json()["contact"]
    assert "contact_persons" in detail and "billing_address" in detail
    bad = fetch(emulator, headers, "contacts", organization_id="lists", last_modified_time="yesterday")
    assert bad.status_code == 400
    unpaid = fetch(emulator, headers, "invoices", organization_id="lists", filter_by="Status.Unpaid").json()["invoices"]
    assert unpaid and all(i["balance"] > 0 and i["status"] not in ("draft", "void", "paid") for i in unpaid)


def test_edits_bump_the_modified_time(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    zoho.add_org("edits", seed=9, customers=30, invoices=30)
    snapshot = zoho.snapshot("edits")
    contact = next(c for c in snapshot["contacts"] if c["contact_persons"] and c["contact_type"] == "customer")
    zoho.advance_clock(3600)
    changed = zoho.update_contact("edits", contact["contact_id"], mobile="+91 98450 11111")
    assert parsed(changed["last_modified_time"]) > parsed(contact["last_modified_time"])
    headers = bearer(emulator, zoho, "edits")
    detail = fetch(emulator, headers, f"contacts/{contact['contact_id']}", organization_id="edits").json()["contact"]
    assert parsed(detail["last_modified_time"]) > parsed(contact["last_modified_time"]) + timedelta(minutes=59)
    target = next((p for p in detail["contact_persons"] if p["is_primary_contact"]), detail["contact_persons"][0])
    assert target["mobile"] == "+91 98450 11111"

    zoho.delete_contact("edits", contact["contact_id"])
    gone = fetch(emulator, headers, f"contacts/{contact['contact_id']}", organization_id="edits")
    assert (gone.status_code, gone.json()["code"]) == (404, 1002)
    zoho.restore_contact("edits", contact["contact_id"])
    assert fetch(emulator, headers, f"contacts/{contact['contact_id']}", organization_id="edits").status_code == 200

    invoice = zoho.create_invoice("edits", contact["contact_id"], due_date="2030-01-01", total=100.0)
    assert invoice["status"] == "sent" and invoice["balance"] == 100.0
    paid = zoho.pay_invoice("edits", invoice["invoice_id"])
    assert (paid["status"], paid["balance"]) == ("paid", 0.0)


def test_rate_limit_answers_429_with_code_44(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    zoho.add_org("limited", seed=1, customers=5, invoices=0)
    headers = bearer(emulator, zoho, "limited")
    zoho.rate_limit(3, 30)
    codes = [fetch(emulator, headers, "organizations/limited", organization_id="limited").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    answer = fetch(emulator, headers, "organizations/limited", organization_id="limited").json()
    assert answer["code"] == 44
    assert zoho.stats()["by_org"]["limited"]["organizations.get"] == 6


def test_token_endpoint_errors(emulator: RunningEmulator, zoho: EmulatorControl) -> None:
    def refresh(token: str, secret: str) -> dict[str, Any]:
        return dict(requests.post(
            f"{emulator.accounts_base_url}/oauth/v2/token",
            data={"grant_type": "refresh_token", "client_id": emulator.emulator.client_id, "client_secret": secret,
                  "refresh_token": token},
            timeout=5,
        ).json())  # fmt: skip

    zoho.add_refresh_token("rt-errors")
    assert "access_token" in refresh("rt-errors", emulator.emulator.client_secret)
    assert refresh("rt-errors", "wrong") == {"error": "invalid_client"}
    assert refresh("never-issued", emulator.emulator.client_secret) == {"error": "invalid_code"}
    zoho.revoke_refresh_token("rt-errors")
    assert refresh("rt-errors", emulator.emulator.client_secret) == {"error": "invalid_code"}
