"""The primary-phone rule, case by case (design §5)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import phonenumbers
import pytest

from books_sync.records.countries import REGION_NAMES, country_code_from_name
from books_sync.records.phones import choose_phone, timezone_for


def person(mobile: str = "", phone: str = "", primary: bool = False) -> dict[str, Any]:
    return {"mobile": mobile, "phone": phone, "is_primary_contact": primary, "first_name": "P"}


CASES: list[tuple[str, dict[str, Any], str | None, str | None, str | None]] = [
    # (case, contact, billing country, expected E.164, expected source)
    (
        "primary's mobile wins over its phone",
        {"contact_persons": [person("98450 12345", "080 4123 4567", primary=True)]},
        "IN",
        "+919845012345",
        "primary person mobile",
    ),
    (
        "primary's phone when it has no mobile",
        {"contact_persons": [person("", "080 4123 4567", primary=True)]},
        "IN",
        "+918041234567",
        "primary person phone",
    ),
    (
        "the flagged primary, not the first person",
        {"contact_persons": [person("98450 00001"), person("98450 00002", primary=True)]},
        "IN",
        "+919845000002",
        "primary person mobile",
    ),
    (
        "several primaries: the first flagged one",
        {"contact_persons": [person("98450 00003", primary=True), person("98450 00004", primary=True)]},
        "IN",
        "+919845000003",
        "primary person mobile",
    ),
    (
        "no primary flag: the first person",
        {"contact_persons": [person("98450 00005"), person("98450 00006")]},
        "IN",
        "+919845000005",
        "primary person mobile",
    ),
    (
        "primary without numbers: the next person's mobile or phone",
        {"contact_persons": [person(primary=True), person("", "080 4123 4567")]},
        "IN",
        "+918041234567",
        "other person phone",
    ),
    (
        "no persons: the contact-level mobile",
        {"contact_persons": [], "mobile": "98450 12345", "phone": "080 4123 4567"},
        "IN",
        "+919845012345",
        "contact mobile",
    ),
    ("no persons and only a contact-level phone", {"phone": "(415) 555-2671"}, "US", "+14155552671", "contact phone"),
    (
        "a national number needs the billing country",
        {"contact_persons": [person("020 7946 0958", primary=True)]},
        "GB",
        "+442079460958",
        "primary person mobile",
    ),
    (
        "international format needs no country",
        {"contact_persons": [person("+49 30 901820", primary=True)]},
        None,
        "+4930901820",
        "primary person mobile",
    ),
    (
        "00 international prefix",
        {"contact_persons": [person("0091 98450 12345", primary=True)]},
        "IN",
        "+919845012345",
        "primary person mobile",
    ),
    (
        "an invalid primary mobile falls through to a valid phone",
        {"contact_persons": [person("call after 6pm", "080 4123 4567", primary=True)]},
        "IN",
        "+918041234567",
        "primary person phone",
    ),
    (
        "unicode digits and noise are not numbers",
        {"contact_persons": [person("☎︎ none", primary=True)]},
        "IN",
        None,
        None,
    ),
    (
        "only invalid numbers: no phone",
        {"contact_persons": [person("12345", "+91 000", primary=True)]},
        "IN",
        None,
        None,
    ),
    ("empty persons and nothing else: no phone", {"contact_persons": []}, "IN", None, None),
    ("absurdly long value is not parsed", {"mobile": "9" * 500}, "IN", None, None),
]


@pytest.mark.parametrize(("case", "contact", "billing", "expected", "source"), CASES, ids=[c[0] for c in CASES])
def test_primary_phone(
    case: str, contact: dict[str, Any], billing: str | None, expected: str | None, source: str | None
) -> None:
    choice = choose_phone(contact, billing, "IN")
    assert choice.e164 == expected
    assert choice.source == source
    if expected is None:
        assert choice.problem


def test_organization_country_is_the_fallback_region() -> None:
    contact = {"contact_persons": [person("0171 1234567", primary=True)]}
    assert choose_phone(contact, None, "DE").e164 == "+491711234567"
    assert choose_phone(contact, None, "IN").e164 is None
    assert choose_phone(contact, "DE", "IN").e164 == "+491711234567"  # the billing country comes first


def test_problem_never_contains_the_number() -> None:
    choice = choose_phone({"contact_persons": [person("+91 000 999", primary=True)]}, "IN", "IN")
    assert choice.problem is not None
    assert "999" not in choice.problem


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("India", "IN"),
        ("india", "IN"),
        ("IN", "IN"),
        ("U.S.A", "US"),
        ("United States of America", "US"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("United Arab Emirates", "AE"),
        ("UAE", "AE"),
        ("Deutschland", "DE"),
        ("Germany", "DE"),
        ("Atlantis", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_country_names(name: Any, code: str | None) -> None:
    assert country_code_from_name(name) == code


def test_timezone_from_number_then_country_then_organization() -> None:
    assert timezone_for("+14155552671", "US", "IN", "Asia/Kolkata") == "America/Los_Angeles"
    assert timezone_for(None, "DE", "IN", "Asia/Kolkata") == "Europe/Berlin"
    assert timezone_for(None, "IN", "IN", "Asia/Kolkata") == "Asia/Kolkata"
    assert timezone_for(None, None, "IN", "Asia/Kolkata") == "Asia/Kolkata"
    # An Australian mobile spans several zones: the organization's zone if it is one of them.
    assert timezone_for("+61412345678", "AU", "AU", "Australia/Perth") == "Australia/Perth"


def test_country_names_are_the_geocoders() -> None:
    from phonenumbers import geocoder

    expected = {}
    for region in phonenumbers.SUPPORTED_REGIONS:
        example = phonenumbers.example_number(region)
        name = geocoder.country_name_for_number(example, "en") if example is not None else ""
        if name:
            expected[region] = name
    assert expected == REGION_NAMES


def test_the_layer_never_loads_the_geocoders_100_mb_of_data() -> None:
    code = "import sys, customer_sync.handler, invoice_sync.handler; print('phonenumbers.geodata' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_state_names_its_zone_in_countries_that_span_several() -> None:
    """Free text as Zoho users type it: names, abbreviations, accents and case alike."""
    from books_sync.records.regions import zone_of_region

    cases = {
        ("US", "California"): "America/Los_Angeles",
        ("US", "ca"): "America/Los_Angeles",
        ("US", "Calif."): "America/Los_Angeles",
        ("US", "new york"): "America/New_York",
        ("US", "AZ"): "America/Phoenix",
        ("CA", "Ontario"): "America/Toronto",
        ("CA", "BC"): "America/Vancouver",
        ("AU", "Western Australia"): "Australia/Perth",
        ("AU", "QLD"): "Australia/Brisbane",
        ("MX", "Baja California Sur"): "America/Mazatlan",
        ("MX", "Jalisco"): "America/Mexico_City",  # a named state not in the table: the country's main zone
        ("BR", "São Paulo"): "America/Sao_Paulo",
        ("BR", "amazonas"): "America/Manaus",
        ("US", "Atlantis"): None,  # not a state: the number or the organization decides
        ("US", ""): None,
        ("GB", "London"): None,  # one zone: the country says it
        (None, "California"): None,
    }
    assert {case: zone_of_region(*case) for case in cases} == cases


def test_the_billing_state_comes_before_the_number() -> None:
    assert timezone_for("+14055550142", "US", "US", "America/New_York", "California") == "America/Los_Angeles"
    assert timezone_for("+14055550142", "US", "US", "America/New_York", None) == "America/Chicago"
    assert timezone_for("+919876543210", "GB", "IN", "Asia/Kolkata", None) == "Europe/London"  # billed in the UK
