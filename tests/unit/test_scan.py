from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from books_sync.errors import ZohoProtocolError
from books_sync.sync.scan import FreshRows, PageFilter, ScanPosition

Row = tuple[str, datetime]
BROKEN_1 = "row has no id"
BROKEN_2 = "row has no time"


def at(second: int) -> datetime:
    return datetime(2026, 11, 1, 12, 0, second, tzinfo=UTC)


def new_filter() -> PageFilter[Row]:
    return PageFilter[Row]("x", lambda row: row)


def fresh(position: ScanPosition, page: Sequence[Row | str]) -> FreshRows[Row]:
    return new_filter().fresh(position, page)


def test_rows_done_before_at_since_are_skipped() -> None:
    page: list[Row | str] = [("a", at(5)), ("b", at(5)), ("c", at(5)), ("d", at(6))]
    result = fresh(ScanPosition(at(5), done_at_since=2), page)
    assert (result.rows, result.repeated) == ([("c", at(5)), ("d", at(6))], 0)


def test_fewer_ties_than_before_never_skip_a_newer_row() -> None:
    assert fresh(ScanPosition(at(5), done_at_since=3), [("a", at(5)), ("b", at(7))]).rows == [("b", at(7))]


def test_broken_rows_stay_for_the_caller_to_log_even_among_done_rows() -> None:
    page: list[Row | str] = [BROKEN_1, ("a", at(5)), BROKEN_2, ("b", at(6))]
    assert fresh(ScanPosition(at(5), done_at_since=1), page).rows == [BROKEN_1, BROKEN_2, ("b", at(6))]


def test_a_repeated_id_counts_once_and_its_last_copy_is_used() -> None:
    page: list[Row | str] = [("a", at(1)), ("a", at(1)), ("b", at(2)), ("a", at(3))]
    result = fresh(ScanPosition(at(1)), page)
    assert (result.rows, result.repeated) == ([("b", at(2)), ("a", at(3))], 2)
    assert result.repeats_note == " (2 repeated rows already read)"


def test_a_repeated_row_at_since_is_skipped_once() -> None:
    # Two rows at 5 were done; the page shows the first of them twice, then the unseen third.
    page: list[Row | str] = [("a", at(5)), ("a", at(5)), ("b", at(5)), ("c", at(5))]
    result = fresh(ScanPosition(at(5), done_at_since=2), page)
    assert (result.rows, result.repeated) == ([("c", at(5))], 1)


def test_rows_out_of_order_or_before_since_are_a_protocol_error() -> None:
    with pytest.raises(ZohoProtocolError, match="x: rows are not sorted"):
        fresh(ScanPosition(None), [("a", at(2)), ("b", at(1))])
    with pytest.raises(ZohoProtocolError, match="not sorted"):
        fresh(ScanPosition(at(5)), [("a", at(4))])


def test_a_page_that_repeats_rows_this_scan_took_takes_none_of_them_again() -> None:
    rows_filter = new_filter()
    first = rows_filter.fresh(ScanPosition(at(1)), [("a", at(1)), ("b", at(5)), ("c", at(5))])
    assert first.rows == [("a", at(1)), ("b", at(5)), ("c", at(5))]
    assert first.repeats_note == ""
    # position is now (5, 2); a page answering with the same rows again brings nothing new
    again = rows_filter.fresh(ScanPosition(at(5), done_at_since=200), [("b", at(5)), ("c", at(5))])
    assert (again.rows, again.repeated) == ([], 2)
    # a row modified since (newer time) is new again
    assert rows_filter.fresh(ScanPosition(at(5), done_at_since=2), [("b", at(5)), ("d", at(6))]).rows == [("d", at(6))]
