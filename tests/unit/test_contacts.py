from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from books_sync.records.contacts import SEPARATOR, contact_hash, customer_record, parse_listed_contact
from books_sync.records.text import clean_text

ROW: dict[str, Any] = {
    "contact_id": "460000000026049",
    "contact_name": "Asha Traders",
    "phone": "080 4123 4567",
    "mobile": "+91 98450 12345",
    "email": "asha@example.com",
    "last_modified_time": "2025-03-01T10:15:00+0530",
}


def test_hash_is_sha256_hex_and_covers_each_field() -> None:
    base = contact_hash(ROW)
    assert len(base) == 64
    assert int(base, 16) >= 0
    for field, value in ROW.items():
        assert contact_hash({**ROW, field: str(value) + "x"}) != base, field
    assert contact_hash({**ROW, "company_name": "ignored"}) == base  # not part of the hash


def test_hash_separator_is_unambiguous() -> None:
    # Plain concatenation would make these equal: "ab" + "c" == "a" + "bc".
    assert contact_hash({**ROW, "contact_name": "ab", "phone": "c"}) != contact_hash(
        {**ROW, "contact_name": "a", "phone": "bc"}
    )
    # Values holding the separator itself (or a backslash) cannot fake a field boundary either.
    assert contact_hash({**ROW, "contact_name": f"a{SEPARATOR}b", "phone": "c"}) != contact_hash(
        {**ROW, "contact_name": "a", "phone": f"b{SEPARATOR}c"}
    )
    assert contact_hash({**ROW, "contact_name": "a\\", "phone": "x1fb"}) != contact_hash(
        {**ROW, "contact_name": "a", "phone": "\\x1fb"}
    )


def test_missing_values_hash_as_empty() -> None:
    assert contact_hash({**ROW, "phone": None}) == contact_hash({**ROW, "phone": ""})
    assert contact_hash({k: v for k, v in ROW.items() if k != "email"}) != contact_hash(ROW)


def test_detail_without_top_level_fields_hashes_like_its_list_row() -> None:
    detail = {k: v for k, v in ROW.items() if k not in ("phone", "mobile", "email")}
    detail["contact_persons"] = [
        {"phone": "", "mobile": "1", "email": "other@example.com", "is_primary_contact": False},
        {"phone": ROW["phone"], "mobile": ROW["mobile"], "email": ROW["email"], "is_primary_contact": True},
    ]
    assert contact_hash(detail) == contact_hash(ROW)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (None, "row is a NoneType, not an object"),
        ({"contact_name": "x"}, "row has no contact_id"),
        ({"contact_id": "1" * 65, "last_modified_time": ROW["last_modified_time"]}, "longer than 64"),
        ({"contact_id": "7"}, "contact 7: last_modified_time is missing or malformed"),
        ({"contact_id": "7", "last_modified_time": 12345}, "last_modified_time is missing or malformed"),
    ],
)
def test_unusable_list_rows_give_a_reason(row: Any, reason: str) -> None:
    parsed = parse_listed_contact(row)
    assert isinstance(parsed, str)
    assert reason in parsed


def test_numeric_ids_and_times_parse() -> None:
    parsed = parse_listed_contact({**ROW, "contact_id": 460000000026049})
    assert not isinstance(parsed, str)
    assert parsed.zoho_id == "460000000026049"
    assert parsed.modified_at == datetime(2025, 3, 1, 4, 45, tzinfo=UTC)


def test_clean_text_makes_anything_storable() -> None:
    assert clean_text("  a\x00b  ") == "ab"
    assert clean_text("") is None
    assert clean_text(None) is None
    assert clean_text(True) is None
    assert clean_text({"x": 1}) is None
    assert clean_text(12) == "12"
    assert clean_text("Ω" * 5000) == "Ω" * 2000


def test_record_from_a_nasty_detail_never_raises() -> None:
    detail = {
        "contact_id": "9",
        "contact_name": "Zoë \x00 Ünïcødé 🚀" + "x" * 10000,
        "contact_persons": [
            "not a person",
            None,
            {"first_name": 5, "mobile": ["no"], "is_primary_contact": "yes"},
            {"mobile": "98450 12345", "email": "p@example.com"},
        ],
        "billing_address": "not an object",
    }
    record = customer_record(detail, sync_hash="h", modified_at=None, org_country="IN", org_timezone="Asia/Kolkata")
    assert record.customer_name is not None
    assert "\x00" not in record.customer_name
    assert len(record.customer_name) == 2000
    assert record.contact_persons is not None
    assert len(record.contact_persons) == 2
    assert record.contact_persons[0]["first_name"] == "5"
    assert record.contact_persons[0]["is_primary_contact"] is False
    assert record.primary_phone == "+919845012345"  # the first person has no usable number; the second does
    assert record.primary_email == "p@example.com"
    assert record.country_code == "IN"
    assert record.timezone in ("Asia/Calcutta", "Asia/Kolkata")
