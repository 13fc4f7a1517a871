from __future__ import annotations

from datetime import UTC, datetime

import pytest

from books_sync.scan import PageFilter, ScanPosition
from books_sync.zoho_errors import ZohoProtocolError


def at(second: int) -> datetime:
    return datetime(2026, 11, 1, 12, 0, second, tzinfo=UTC)


def test_rows_done_before_at_since_are_skipped() -> None:
    position = ScanPosition(at(5), done_at_since=2)
    fresh = PageFilter("x").fresh(position, ["a", "b", "c", "d"], [at(5), at(5), at(5), at(6)])
    assert (fresh.indexes, fresh.repeated) == ([2, 3], 0)


def test_fewer_ties_than_before_never_skip_a_newer_row() -> None:
    position = ScanPosition(at(5), done_at_since=3)
    assert PageFilter("x").fresh(position, ["a", "b"], [at(5), at(7)]).indexes == [1]


def test_broken_rows_stay_for_the_caller_to_log_even_among_done_rows() -> None:
    position = ScanPosition(at(5), done_at_since=1)
    fresh = PageFilter("x").fresh(position, [None, "a", None, "b"], [None, at(5), None, at(6)])
    assert fresh.indexes == [0, 2, 3]


def test_a_repeated_id_counts_once_and_its_last_copy_is_used() -> None:
    position = ScanPosition(at(1))
    fresh = PageFilter("x").fresh(position, ["a", "a", "b", "a"], [at(1), at(1), at(2), at(3)])
    assert (fresh.indexes, fresh.repeated) == ([2, 3], 2)


def test_a_repeated_row_at_since_is_skipped_once() -> None:
    # Two rows at 5 were done; the page shows the first of them twice, then the unseen third.
    position = ScanPosition(at(5), done_at_since=2)
    fresh = PageFilter("x").fresh(position, ["a", "a", "b", "c"], [at(5), at(5), at(5), at(5)])
    assert (fresh.indexes, fresh.repeated) == ([3], 1)


def test_rows_out_of_order_or_before_since_are_a_protocol_error() -> None:
    with pytest.raises(ZohoProtocolError, match="x: rows are not sorted"):
        PageFilter("x").fresh(ScanPosition(None), ["a", "b"], [at(2), at(1)])
    with pytest.raises(ZohoProtocolError, match="not sorted"):
        PageFilter("x").fresh(ScanPosition(at(5)), ["a"], [at(4)])


def test_a_page_that_repeats_rows_this_scan_took_takes_none_of_them_again() -> None:
    rows_filter = PageFilter("x")
    first = rows_filter.fresh(ScanPosition(at(1)), ["a", "b", "c"], [at(1), at(5), at(5)])
    assert first.indexes == [0, 1, 2]
    # position is now (5, 2); a page answering with the same rows again brings nothing new
    again = rows_filter.fresh(ScanPosition(at(5), done_at_since=200), ["b", "c"], [at(5), at(5)])
    assert (again.indexes, again.repeated) == ([], 2)
    # a row modified since (newer time) is new again
    assert rows_filter.fresh(ScanPosition(at(5), done_at_since=2), ["b", "d"], [at(5), at(6)]).indexes == [1]
