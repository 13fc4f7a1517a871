from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from books_sync.records.invoices import InvoiceRecord, parse_invoice_row

ROW: dict[str, Any] = {
    "invoice_id": "460000000012345",
    "invoice_number": "INV-000001",
    "customer_id": "460000000000001",
    "status": "Overdue",
    "date": "2026-01-10",
    "due_date": "2026-02-09",
    "total": 1180.5,
    "balance": "200.25",
    "currency_code": "INR",
    "last_modified_time": "2026-01-11T10:15:00+0530",
}


def test_a_list_row_becomes_a_record() -> None:
    record = parse_invoice_row(ROW)
    assert isinstance(record, InvoiceRecord)
    assert (record.status, record.due_date, record.total, record.balance) == (
        "overdue",
        date(2026, 2, 9),
        Decimal("1180.5"),
        Decimal("200.25"),
    )
    assert record.as_row("c-uuid")["customer_id"] == "c-uuid"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"invoice_id": None}, "no usable invoice_id"),
        ({"invoice_id": "x" * 65}, "no usable invoice_id"),
        ({"customer_id": ""}, "no usable customer_id"),
        ({"last_modified_time": "yesterday"}, "last_modified_time"),
    ],
)
def test_unusable_rows_give_a_reason(change: dict[str, Any], reason: str) -> None:
    result = parse_invoice_row({**ROW, **change})
    assert isinstance(result, str)
    assert reason in result


def test_odd_values_become_missing_not_errors() -> None:
    record = parse_invoice_row({**ROW, "total": "lots", "balance": float("nan"), "due_date": 7, "date": "2026-13-01"})
    assert isinstance(record, InvoiceRecord)
    assert (record.total, record.balance, record.due_date, record.invoice_date) == (None, None, None, None)
    assert isinstance(parse_invoice_row(["not", "an", "object"]), str)


@pytest.mark.parametrize(
    ("field", "raw"),
    [("due_date", "9999-12-31"), ("due_date", "0001-01-01"), ("due_date", "0000-00-00"), ("date", "2026-02-30")],
)
def test_an_implausible_date_is_unknown_with_a_reason(field: str, raw: str) -> None:
    """Year 9999 or 0001 would overflow the reminder schedule (a date plus a few days) for the whole tenant."""
    record = parse_invoice_row({**ROW, field: raw})
    assert isinstance(record, InvoiceRecord)
    assert getattr(record, "invoice_date" if field == "date" else field) is None
    assert any(field in note and raw in note for note in record.notes)


def test_payment_expected_date_is_kept_where_zoho_has_one() -> None:
    record = parse_invoice_row({**ROW, "payment_expected_date": "2026-03-01"})
    assert isinstance(record, InvoiceRecord) and record.payment_expected_date == date(2026, 3, 1)
    blank = parse_invoice_row({**ROW, "payment_expected_date": " "})  # Zoho's sample shows a blank
    assert isinstance(blank, InvoiceRecord) and blank.payment_expected_date is None and blank.notes == ()
