"""From Zoho invoice rows to `invoices_cache` rows.

Pure functions. The invoice list carries everything we keep (no detail call per invoice); rows
are untrusted: a row without an id, customer or modification time is refused with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from books_sync.clock import utcnow
from books_sync.records.text import clean_id, clean_text
from books_sync.zoho.timestamps import parse_zoho_time, plausible

_MAX_AMOUNT = Decimal("1e15")


@dataclass(frozen=True)
class InvoiceRecord:
    zoho_invoice_id: str
    zoho_customer_id: str
    invoice_number: str | None
    status: str | None
    invoice_date: date | None
    due_date: date | None
    total: Decimal | None
    balance: Decimal | None
    currency_code: str | None
    modified_at: datetime | None  # None: Zoho's time is later than now, so unknown (never outranks a true copy)
    row: Mapping[str, Any]  # the row as Zoho sent it (kept in `invoice_sync_skips` when unlinked)
    payment_expected_date: date | None = None
    notes: tuple[str, ...] = ()  # values that were unusable and stored as unknown (for the log)

    @property
    def zoho_id(self) -> str:
        return self.zoho_invoice_id

    def as_row(self, customer_id: str) -> dict[str, Any]:
        return {
            "zoho_invoice_id": self.zoho_invoice_id,
            "customer_id": customer_id,
            "invoice_number": self.invoice_number,
            "status": self.status,
            "invoice_date": self.invoice_date.isoformat() if self.invoice_date else None,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "total": str(self.total) if self.total is not None else None,
            "balance": str(self.balance) if self.balance is not None else None,
            "currency_code": self.currency_code,
            "payment_expected_date": self.payment_expected_date.isoformat() if self.payment_expected_date else None,
            "zoho_last_modified_at": self.modified_at.isoformat() if self.modified_at else None,
        }


_EARLIEST = date(1900, 1, 1)
_LATEST = date(2199, 12, 31)


def _date(row: Mapping[str, Any], field: str, notes: list[str]) -> date | None:
    """A plausible calendar date, else None with a note: year 9999 would overflow a schedule."""
    value = row.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip()[:10] if isinstance(value, str) else ""
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or not _EARLIEST <= parsed <= _LATEST:
        notes.append(f"{field} {str(value)[:20]!r} is not a plausible date; stored as unknown")
        return None
    return parsed


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and abs(amount) < _MAX_AMOUNT else None


def parse_invoice_row(row: Any) -> InvoiceRecord | str:
    """The record, or the reason the row cannot be used (logged and counted by the caller)."""
    if not isinstance(row, Mapping):
        return f"row is a {type(row).__name__}, not an object"
    invoice_id = clean_id(row.get("invoice_id"))
    if invoice_id is None:
        return "row has no usable invoice_id"
    customer_id = clean_id(row.get("customer_id"))
    if customer_id is None:
        return f"invoice {invoice_id}: no usable customer_id"
    try:
        modified_at = parse_zoho_time(row.get("last_modified_time"))
    except ValueError:
        return f"invoice {invoice_id}: last_modified_time is missing or malformed"
    status = clean_text(row.get("status"), limit=40)
    notes: list[str] = []
    if plausible(modified_at, utcnow()) is None:
        notes.append(f"last_modified_time {modified_at.isoformat()} is later than now; stored as unknown")
    return InvoiceRecord(
        zoho_invoice_id=invoice_id,
        zoho_customer_id=customer_id,
        invoice_number=clean_text(row.get("invoice_number"), limit=200),
        status=status.lower() if status else None,
        invoice_date=_date(row, "date", notes),
        due_date=_date(row, "due_date", notes),
        total=_amount(row.get("total")),
        balance=_amount(row.get("balance")),
        currency_code=clean_text(row.get("currency_code"), limit=10),
        modified_at=plausible(modified_at, utcnow()),
        row=row,
        payment_expected_date=_date(row, "payment_expected_date", notes),
        notes=tuple(notes),
    )
