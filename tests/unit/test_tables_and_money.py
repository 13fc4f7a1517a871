"""What the command line's tables, amounts and times left look like (issue 26 item 8)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from zoho_sync_cli.money import money
from zoho_sync_cli.progress import remaining
from zoho_sync_cli.tables import cell_width, render


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("4424.3", "INR", "4,424.30 INR"),
        (Decimal("829.12"), "GBP", "829.12 GBP"),
        (1500, "JPY", "1,500 JPY"),
        ("12.3456", "KWD", "12.346 KWD"),
        ("1234567.891", "usd", "1,234,567.89 USD"),
        ("0.005", "EUR", "0.01 EUR"),
        ("5", None, "5.00"),
        (None, "INR", ""),
    ],
)
def test_an_amount_has_its_currencys_decimals(amount: object, currency: str | None, shown: str) -> None:
    assert money(amount, currency) == shown  # type: ignore[arg-type]


def test_wide_characters_take_two_cells_and_columns_stay_aligned() -> None:
    table = render(["tenant", "customer", "phone"], [["u1", "東京商事", "+81"], ["acme", "Acme", "+44"]], limit=None)
    lines = table.splitlines()
    assert cell_width("東京商事") == 8 and cell_width("é") == 1 and cell_width("e\u0301") == 1
    starts = {line.index("+") + cell_width(line[: line.index("+")]) - line.index("+") for line in lines[2:]}
    assert len(starts) == 1, table  # the phones start in the same terminal column


def test_a_table_fits_its_width_and_wraps_at_spaces() -> None:
    reason = "not confirmed by Zoho within 15 minutes: the tenant is disabled"
    table = render(["tenant", "customer", "waiting for"], [["u1", "Acme Corporation Limited", reason]], limit=50)
    lines = table.splitlines()
    assert len(lines) > 3 and max(cell_width(line) for line in lines) <= 50, table
    column = lines[0].index("waiting for")
    assert [line[column:].strip() for line in lines[2:]] == [  # the column's lines, cut at spaces only
        "not confirmed by",
        "Zoho within 15",
        "minutes: the tenant",
        "is disabled",
    ], table
    assert [line[:column].strip() for line in lines[2:4]] == ["u1      Acme Corporation", "Limited"], table


def test_without_a_limit_nothing_is_wrapped() -> None:
    row = ["u1", "x" * 200]
    assert render(["a", "b"], [row], limit=None).splitlines()[2] == "u1  " + "x" * 200


def test_a_table_too_wide_to_wrap_is_shown_a_record_at_a_time() -> None:
    headers = [f"column {n}" for n in range(9)]
    rows = [[f"value {n} of row {r}" for n in range(9)] for r in range(2)]
    shown = render(headers, rows, limit=40)
    blocks = shown.split("\n\n")
    assert len(blocks) == 2 and max(cell_width(line) for line in shown.splitlines()) <= 40, shown
    assert blocks[1].splitlines()[0] == "column 0  value 0 of row 1", shown


@pytest.mark.parametrize(("seconds", "said"), [(0.2, "1 s"), (42, "42 s"), (185, "3 min"), (7800, "2 h 10 min")])
def test_a_time_left_is_said_as_a_person_says_it(seconds: float, said: str) -> None:
    assert remaining(seconds) == said
