"""Deterministic, realistic and nasty Zoho Books data for one organization, generated from a seed.

Nasty on purpose: several contact persons, several or no primaries, missing phones, national and
international formats from several countries, invalid numbers, unicode names, very long strings,
vendors mixed with customers, and a block of contacts sharing one last_modified_time (a bulk import).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import phonenumbers

FIRST_NAMES = [
    "Asha", "Ravi", "Priya", "John", "Mary", "José", "Zoë", "François", "Søren", "Łukasz", "Ngozi", "Aiko",
    "李雷", "Мария", "محمد", "Đặng", "Øystein", "Nuñez", "O'Brien", "Ümit",
]  # fmt: skip
LAST_NAMES = [
    "Sharma", "Iyer", "Smith", "García", "Müller", "Nakamura", "Okafor", "Dubois", "Kowalski", "Nguyễn",
    "王", "Иванова", "الحسن", "Jørgensen", "D'Souza", "Smith-Jones", "van der Berg",
]  # fmt: skip
COMPANY_WORDS = [
    "Traders",
    "Bikes",
    "Textiles",
    "Foods",
    "Logistics",
    "Studio",
    "Ölwerk",
    "株式会社",
    "🚀 Labs",
    "& Sons",
]

# (ISO region, how Zoho users type the billing country, org currency)
COUNTRIES: list[tuple[str, list[str], str]] = [
    ("IN", ["India", "india", "IN"], "INR"),
    ("US", ["United States", "U.S.A", "USA", "United States of America"], "USD"),
    ("GB", ["United Kingdom", "UK", "Great Britain"], "GBP"),
    ("AU", ["Australia"], "AUD"),
    ("DE", ["Germany", "Deutschland"], "EUR"),
    ("AE", ["United Arab Emirates", "UAE"], "AED"),
    ("SG", ["Singapore"], "SGD"),
]
# How Zoho's organization profile shows the country (free text) and the zone (an abbreviation).
ORG_COUNTRY_TEXT = {
    "IN": "India",
    "US": "U.S.A",
    "GB": "U.K",
    "AU": "Australia",
    "DE": "Germany",
    "AE": "U.A.E",
    "SG": "Singapore",
}
ZONE_ABBREVIATIONS = {"IN": "IST", "US": "PST", "GB": "GMT", "AU": "AWST", "DE": "CET", "AE": "GST", "SG": "SGT"}
REGION_TIMEZONES = {
    "IN": "Asia/Kolkata",
    "US": "America/Los_Angeles",
    "GB": "Europe/London",
    "AU": "Australia/Perth",
    "DE": "Europe/Berlin",
    "AE": "Asia/Dubai",
    "SG": "Asia/Singapore",
}
REGION_OFFSETS = {"IN": 330, "US": -480, "GB": 0, "AU": 600, "DE": 60, "AE": 240, "SG": 480}
INVALID_PHONES = ["12345", "call after 6pm", "+91 000", "N/A", "0", "+1 (555) 0", "☎︎ none"]


@dataclass
class OrgData:
    organization_id: str
    name: str
    country_code: str
    country_name: str
    timezone: str
    tz_offset_minutes: int
    currency_code: str
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # made by pay_invoice
    next_id: int = 0

    def new_id(self) -> str:
        self.next_id += 1
        return f"{self.organization_id[-4:]}{self.next_id:011d}"


def _valid_number(rng: random.Random, region: str, mobile: bool) -> phonenumbers.PhoneNumber:
    kind = phonenumbers.PhoneNumberType.MOBILE if mobile else phonenumbers.PhoneNumberType.FIXED_LINE
    example = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(region)
    assert example is not None
    national = str(example.national_number)
    for _ in range(50):
        digits = national[:-4] + "".join(rng.choice("0123456789") for _ in range(4))
        candidate = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(digits))
        if phonenumbers.is_valid_number(candidate):
            return candidate
    return example


def _format_number(rng: random.Random, number: phonenumbers.PhoneNumber) -> str:
    style = rng.random()
    if style < 0.35:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if style < 0.7:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if style < 0.9:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # digits only, as people paste them
    return "".join(
        ch for ch in phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL) if ch.isdigit()
    )


def zoho_time(moment: datetime, offset_minutes: int) -> str:
    """Zoho's `yyyy-MM-ddTHH:mm:ss+hhmm`, in the organization's offset."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    return local.strftime("%Y-%m-%dT%H:%M:%S%z")


class Generator:
    """Builds contacts and invoices for one organization; also used for records added later."""

    def __init__(self, org: OrgData, seed: int, no_phone_share: float = 0.15) -> None:
        self.org = org
        self.rng = random.Random(seed)
        # Fields added later draw from their own stream, so a seed still gives the data it always gave.
        self.extras = random.Random(f"{seed}:extras")
        self.no_phone_share = no_phone_share

    def _communication_preference(self) -> dict[str, bool]:
        """Mostly on: a person who turned SMS or WhatsApp off must not get reminders that way."""
        return {"is_sms_enabled": self.extras.random() < 0.9, "is_whatsapp_enabled": self.extras.random() < 0.8}

    def _payment_expected_date(self, due_date: date) -> str:
        """Usually unset (Zoho sends "" or " "); sometimes a promised date after the due date."""
        roll = self.extras.random()
        if roll < 0.55:
            return ""
        if roll < 0.75:
            return " "
        return (due_date + timedelta(days=self.extras.randint(0, 30))).isoformat()

    def _person(self, region: str, *, primary: bool, with_phone: bool, index: int) -> dict[str, Any]:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        person: dict[str, Any] = {
            "contact_person_id": self.org.new_id(),
            "salutation": rng.choice(["", "Mr.", "Ms.", "Dr."]),
            "first_name": first,
            "last_name": last,
            "email": f"person{self.org.next_id}.{index}@example.com" if rng.random() < 0.8 else "",
            "phone": "",
            "mobile": "",
            "is_primary_contact": primary,
            "communication_preference": self._communication_preference(),
        }
        if with_phone:
            roll = rng.random()
            if roll < 0.05:
                person["mobile"] = rng.choice(INVALID_PHONES)
            else:
                phone_region = region if rng.random() < 0.85 else rng.choice(COUNTRIES)[0]
                if roll < 0.7:
                    person["mobile"] = _format_number(rng, _valid_number(rng, phone_region, mobile=True))
                if roll >= 0.5:
                    person["phone"] = _format_number(rng, _valid_number(rng, phone_region, mobile=False))
        return person

    def _persons(self, region: str, *, has_phone: bool) -> list[dict[str, Any]]:
        """None to four persons with none, one or several primaries (the primary not always first)."""
        rng = self.rng
        person_count = rng.choices([0, 1, 2, 3, 4], weights=[8, 50, 25, 12, 5])[0]
        primaries = rng.choices(["one", "none", "several"], weights=[80, 12, 8])[0]
        persons = []
        for index in range(person_count):
            is_primary = (primaries == "one" and index == 0) or (primaries == "several" and index < 2)
            # Only some persons carry numbers: the first phone may sit on a non-primary person.
            with_phone = has_phone and (index == 0 or rng.random() < 0.4)
            persons.append(self._person(region, primary=is_primary, with_phone=with_phone, index=index))
        if persons and primaries == "one" and rng.random() < 0.2:
            rng.shuffle(persons)
        return persons

    def _billing_country(self, names: list[str]) -> str:
        """How the user typed the country: several spellings, sometimes empty or nonsense."""
        country_name = self.rng.choice(names)
        roll = self.rng.random()
        if roll < 0.05:
            return ""
        return "Atlantis" if roll < 0.07 else country_name

    def contact(self, modified: datetime, *, contact_type: str = "customer") -> dict[str, Any]:
        rng = self.rng
        org = self.org
        region, names, _ = (
            rng.choice(COUNTRIES) if rng.random() < 0.3 else next(c for c in COUNTRIES if c[0] == org.country_code)
        )
        contact_id = org.new_id()
        has_phone = rng.random() >= self.no_phone_share
        persons = self._persons(region, has_phone=has_phone)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = f"{rng.choice(LAST_NAMES)} {rng.choice(COMPANY_WORDS)}"
        name = company if rng.random() < 0.7 else f"{first} {last}"
        if rng.random() < 0.01:
            name = name + " " + "Ω" * 5000  # a very long name
        country_name = self._billing_country(names)
        primary = next((p for p in persons if p["is_primary_contact"]), None)
        contact: dict[str, Any] = {
            "contact_id": contact_id,
            "contact_name": name,
            "company_name": company,
            "contact_type": contact_type,
            "status": "active" if rng.random() < 0.95 else "inactive",
            "first_name": first,
            "last_name": last,
            "email": primary["email"] if primary else "",
            "phone": primary["phone"] if primary else "",
            "mobile": primary["mobile"] if primary else "",
            "currency_code": org.currency_code,
            "billing_address": {
                "attention": "",
                "address": f"{rng.randint(1, 999)} Main Road",
                "city": rng.choice(["Bengaluru", "Austin", "Leeds", "München", "Dubai", "Perth"]),
                "state": "",
                "zip": f"{rng.randint(10000, 99999)}",
                "country": country_name,
            },
            "contact_persons": persons,
            "payment_reminder_enabled": self.extras.random() >= 0.05,
            "created_time": modified,
            "last_modified_time": modified,
        }
        if not persons and has_phone and rng.random() < 0.6:
            # No persons at all, but a number on the contact itself.
            contact["mobile"] = _format_number(rng, _valid_number(rng, region, mobile=True))
        return contact

    def invoice(self, customer: dict[str, Any], invoice_date: date, modified: datetime) -> dict[str, Any]:
        rng = self.rng
        org = self.org
        invoice_id = org.new_id()
        total = round(rng.uniform(10, 5000), 2)
        status = rng.choices(
            ["paid", "sent", "overdue", "partially_paid", "draft", "void"], weights=[45, 20, 20, 5, 5, 5]
        )[0]
        balance = {"paid": 0.0, "void": 0.0, "partially_paid": round(total * rng.uniform(0.1, 0.9), 2)}.get(
            status, total
        )
        terms = rng.choice([0, 15, 30, 45])
        due_date = invoice_date + timedelta(days=terms)
        return {
            "invoice_id": invoice_id,
            "invoice_number": f"INV-{org.next_id:06d}",
            "customer_id": customer["contact_id"],
            "customer_name": customer["contact_name"],
            "status": status,
            "date": invoice_date.isoformat(),
            "due_date": due_date.isoformat(),
            "payment_expected_date": self._payment_expected_date(due_date),
            "total": total,
            "balance": balance,
            "currency_code": org.currency_code,
            "created_time": modified,
            "last_modified_time": modified,
        }


def generate(
    organization_id: str,
    *,
    seed: int,
    customers: int,
    invoices: int,
    now: datetime,
    country_code: str = "IN",
    no_phone_share: float = 0.15,
    vendors: int | None = None,
    old_customer_share: float = 0.03,
    open_share: float | None = None,
) -> OrgData:
    """An organization with `customers` customers (plus some vendors) and `invoices` invoices.

    With `open_share`, that share of the invoices is open and falls due in 5 to 40 days, the rest
    paid: a new business's receivables, for the first-day benchmark.
    """
    rng = random.Random(seed)
    region = next((c for c in COUNTRIES if c[0] == country_code), COUNTRIES[0])
    org = OrgData(
        organization_id=organization_id,
        name=f"Org {organization_id}",
        country_code=region[0],
        country_name=region[1][0],
        timezone=REGION_TIMEZONES[region[0]],
        tz_offset_minutes=REGION_OFFSETS[region[0]],
        currency_code=region[2],
    )
    generator = Generator(org, seed, no_phone_share=no_phone_share)
    horizon = now.replace(microsecond=0)
    customer_list = _add_customers(generator, rng, customers=customers, horizon=horizon, old_share=old_customer_share)
    for _ in range(vendors if vendors is not None else max(1, customers // 20)):
        vendor = generator.contact(horizon - timedelta(seconds=rng.randint(60, 300 * 86400)), contact_type="vendor")
        org.contacts[vendor["contact_id"]] = vendor
    if customer_list:
        _add_invoices(generator, rng, customer_list, invoices=invoices, horizon=horizon)
    if open_share is not None:
        _receivables(org, random.Random(seed + 104729), open_share, horizon.date())
    return org


def _receivables(org: OrgData, rng: random.Random, open_share: float, today: date) -> None:
    """Make `open_share` of the invoices open and due in 5-40 days; the others paid."""
    for invoice in org.invoices.values():
        if rng.random() < open_share:
            due = today + timedelta(days=rng.randint(5, 40))
            invoice.update(status="sent", balance=invoice["total"], due_date=due.isoformat(),
                           date=(due - timedelta(days=30)).isoformat())  # fmt: skip
        else:
            invoice.update(status="paid", balance=0.0)


def _add_customers(
    generator: Generator, rng: random.Random, *, customers: int, horizon: datetime, old_share: float
) -> list[dict[str, Any]]:
    """Customers modified over the last year, a few long before, and (from 400 on) a bulk import."""
    # A bulk import: a block of contacts sharing one last_modified_time (ties across pages).
    bulk_size = min(250, customers // 4) if customers >= 400 else 0
    bulk_moment = horizon - timedelta(days=200)
    customer_list: list[dict[str, Any]] = []
    for index in range(customers):
        if index < bulk_size:
            modified = bulk_moment
        elif rng.random() < old_share:
            modified = horizon - timedelta(days=rng.uniform(380, 900))  # outside the sync window
        else:
            modified = horizon - timedelta(seconds=rng.randint(60, 360 * 86400))
        contact = generator.contact(modified)
        generator.org.contacts[contact["contact_id"]] = contact
        customer_list.append(contact)
    return customer_list


def _add_invoices(
    generator: Generator,
    rng: random.Random,
    customer_list: list[dict[str, Any]],
    *,
    invoices: int,
    horizon: datetime,
) -> None:
    """Invoices over the last 11 months, a few customers holding most of them; modified up to 20 days later."""
    weights = [rng.paretovariate(1.5) for _ in customer_list]
    cumulative = list(itertools.accumulate(weights))  # once: choices(weights=...) would add them up per invoice
    for _ in range(invoices):
        customer = rng.choices(customer_list, cum_weights=cumulative)[0]
        age_days = rng.randint(0, 330)
        invoice_date = (horizon - timedelta(days=age_days)).date()
        modified = horizon - timedelta(days=age_days) + timedelta(seconds=rng.randint(0, min(age_days, 20) * 86400))
        modified = min(modified, horizon - timedelta(seconds=1))
        invoice = generator.invoice(customer, invoice_date, modified)
        generator.org.invoices[invoice["invoice_id"]] = invoice
