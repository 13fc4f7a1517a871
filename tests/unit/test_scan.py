"""The pass rules of a list scan, on pages built here (the integration tests read real pages over HTTP)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from books_sync.errors import ZohoProtocolError
from books_sync.sync.scan import (
    Checkpoint,
    Order,
    PassPosition,
    PassReader,
    pass_filter,
    start_or_resume,
)

Row = tuple[str, datetime]
BROKEN = "row has no id"


def at(second: int) -> datetime:
    return datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=second)


def reader(order: Order = "any", first_new_page: int = 1) -> PassReader[Row]:
    return PassReader[Row]("x.list", order, lambda row: row, lambda row: True, first_new_page=first_new_page)


def verdicts(page: Sequence[Row | str], position: PassPosition, number: int = 1, **options: object) -> list[str]:
    reading = reader(**options).read(position, number, page)  # type: ignore[arg-type]
    return [f"{verdict}:{row[0]}" for verdict, row in reading.rows]


def test_a_pass_starts_at_least_a_second_behind_the_cursor_whatever_the_overlap() -> None:
    """Zoho documents its filter as "greater than": rows at the cursor's second must still come back."""
    now = at(1000)
    assert pass_filter(at(500), window_days=365, overlap_seconds=0, full=False, now=now) == at(499)
    assert pass_filter(at(500), window_days=365, overlap_seconds=300, full=False, now=now) == at(200)
    assert pass_filter(None, window_days=1, overlap_seconds=300, full=False, now=now) == now - timedelta(days=1)
    assert pass_filter(at(500), window_days=1, overlap_seconds=300, full=True, now=now) == now - timedelta(days=1)


def test_rows_not_after_the_filter_are_skipped_not_an_error() -> None:
    """A list that ignores the filter (or includes its second) shows older rows: they are passed over."""
    position = PassPosition(at(10))
    assert verdicts([("a", at(9)), ("b", at(10)), ("c", at(11))], position) == ["skip:a", "skip:b", "take:c"]


def test_a_done_row_is_skipped_by_id_and_time_but_taken_again_once_edited() -> None:
    position = PassPosition(at(0)).took(1, "a", at(5), "any").took(1, "b", at(5), "any")
    assert verdicts([("a", at(5)), ("b", at(9)), ("c", at(5))], position) == ["done:a", "take:b", "take:c"]


def test_a_repeated_id_counts_once_and_its_last_copy_is_used() -> None:
    page: list[Row | str] = [("a", at(1)), ("a", at(1)), ("b", at(2)), ("a", at(3))]
    reading = reader().read(PassPosition(at(0)), 1, page)
    assert [row for _, row in reading.rows] == [("b", at(2)), ("a", at(3))]
    assert reading.repeated == 2


def test_broken_rows_are_returned_for_the_caller_to_log() -> None:
    reading = reader().read(PassPosition(at(0)), 1, [BROKEN, ("a", at(1))])
    assert (reading.broken, reading.to_take) == ([BROKEN], 1)


def test_a_new_page_that_only_repeats_rows_taken_in_this_call_is_a_protocol_error() -> None:
    """Going on would skip the real page 2: it is a fault to retry, not data."""
    scan = reader()
    page: list[Row | str] = [("a", at(5)), ("b", at(6))]
    position = PassPosition(at(0))
    assert scan.read(position, 1, page).to_take == 2
    position = position.took(1, "a", at(5), "any").took(1, "b", at(6), "any").next_page()
    with pytest.raises(ZohoProtocolError, match=r"x.list: page 2 brought no usable new rows \(2 repeated rows"):
        scan.refuse_a_stall(scan.read(position, 2, page), 2, has_more=True)
    with pytest.raises(ZohoProtocolError, match="page 2 brought no usable new rows; the list is not advancing"):
        scan.refuse_a_stall(scan.read(position, 2, [BROKEN, BROKEN]), 2, has_more=True)
    scan.refuse_a_stall(scan.read(position, 2, page), 2, has_more=False)  # the last page may repeat


def test_rows_taken_in_an_earlier_call_may_fill_a_new_page() -> None:
    """Between two calls Zoho may order a tie differently: done rows can move onto a page not yet read."""
    position = PassPosition(at(0)).took(1, "a", at(5), "any").took(1, "b", at(5), "any").next_page()
    scan = reader(first_new_page=2)
    reading = scan.read(position, 2, [("b", at(5)), ("a", at(5))])
    scan.refuse_a_stall(reading, 2, has_more=True)
    assert reading.to_take == 0


def test_a_page_read_again_on_resume_may_bring_nothing_new() -> None:
    position = PassPosition(at(0)).took(1, "a", at(5), "any").next_page().next_page()
    scan = reader(first_new_page=3)
    reading = scan.read(position, 1, [("a", at(5))])
    scan.refuse_a_stall(reading, 1, has_more=True)
    assert reading.to_take == 0


def test_a_page_of_older_rows_is_no_error_and_a_sorted_newest_first_page_ends_the_pass() -> None:
    position = PassPosition(at(10))
    older = reader().read(position, 1, [("a", at(3)), ("b", at(1))])
    assert (older.to_take, older.past_the_end) == (0, False)
    newest_first = reader("newest_first").read(position, 1, [("c", at(12)), ("a", at(3))])
    assert (newest_first.to_take, newest_first.past_the_end) == (1, True)
    unsorted = reader("newest_first").read(position, 1, [("a", at(3)), ("c", at(12))])
    assert unsorted.past_the_end is False  # the sort was ignored: later pages may hold newer rows


def test_a_resume_reads_again_from_where_the_tie_at_its_boundary_began() -> None:
    position = PassPosition(at(0))
    for row_id, second in [("a", 9), ("b", 8)]:
        position = position.took(1, row_id, at(second), "newest_first")
    position = position.next_page()
    for row_id in ("c", "d"):
        position = position.took(2, row_id, at(5), "newest_first")
    position = position.next_page()
    for row_id in ("e", "f"):
        position = position.took(3, row_id, at(5), "newest_first")
    position = position.next_page()
    assert (position.page, position.tie_page, position.resume_page) == (4, 2, 2)
    assert {row_id for _, row_id, _ in position.done} == {"c", "d", "e", "f"}


def test_the_cursor_moves_to_the_newest_row_taken_but_never_past_the_pass_start() -> None:
    position = PassPosition(at(0)).took(1, "a", at(50), "any").took(1, "b", at(20), "any")
    assert position.cursor_at_end(started_at=at(100)) == at(50)
    assert position.cursor_at_end(started_at=at(30)) == at(30)
    assert PassPosition(at(0)).cursor_at_end(started_at=at(30)) is None


def test_a_checkpoint_round_trips_and_an_old_format_starts_a_new_pass() -> None:
    checkpoint, resumed = start_or_resume(
        None, cursor=at(100), window_days=1, overlap_seconds=10, full_resync=False, reconcile=True,
        first_phase="scan", now=at(200),
    )  # fmt: skip
    assert not resumed and checkpoint.position.since == at(90)
    checkpoint.position = checkpoint.position.took(1, "a", at(150), "newest_first").next_page()
    again = Checkpoint.from_json(checkpoint.to_json())
    assert again == checkpoint
    old = {"phase": "scan", "position": {"since": at(5).isoformat(), "doneAtSince": 3}, "startedAt": at(1).isoformat()}
    restarted, resumed = start_or_resume(
        old, cursor=at(100), window_days=1, overlap_seconds=10, full_resync=False, reconcile=False,
        first_phase="scan", now=at(200),
    )  # fmt: skip
    assert not resumed and restarted.position == type(restarted.position)(at(90))


class TieList:
    """A list of rows sorted newest first, whose order among rows of one second changes at will."""

    def __init__(self, rows: dict[str, datetime], seed: int) -> None:
        self.rows = dict(rows)
        self.rng = random.Random(seed)
        self.shuffle()

    def shuffle(self) -> None:
        keyed = [(-when.timestamp(), self.rng.random(), row_id) for row_id, when in self.rows.items()]
        self.order = [row_id for _, _, row_id in sorted(keyed)]

    def page(self, number: int, size: int) -> tuple[list[Row | str], bool]:
        chunk = self.order[(number - 1) * size : number * size]
        return [(row_id, self.rows[row_id]) for row_id in chunk], number * size < len(self.order)


def read_pass(rows: TieList, position: PassPosition, size: int, pages: int) -> tuple[PassPosition, set[str], bool]:
    """Read as the frame does, `pages` new pages after what a resume reads again (the time budget
    never stops a call before it took something new): (position, ids taken, whether the pass ended)."""
    scan = reader("newest_first", first_new_page=position.page)
    number, taken = position.resume_page, set()
    last = position.page + pages - 1
    while number <= last:
        page, has_more = rows.page(number, size)
        reading = scan.read(position, number, page)
        scan.refuse_a_stall(reading, number, has_more)
        for verdict, (row_id, when) in reading.rows:
            if verdict == "take":
                position = position.took(number, row_id, when, "newest_first")
                taken.add(row_id)
            elif verdict == "done":
                position = position.read(number, when, "newest_first")
        if number == position.page:
            position = position.next_page()
        if not has_more or reading.past_the_end:
            return position, taken, True
        number += 1
    return position, taken, False


@pytest.mark.parametrize("seed", range(5))
def test_a_tie_group_across_pages_reshuffled_and_edited_between_calls_is_read_whole(seed: int) -> None:
    """450 rows modified in one second (a bulk import), read 3 pages of 20 per call; between calls
    Zoho orders the tie differently and a done row is edited (it leaves the tie for the top)."""
    rows = TieList({f"bulk{i:03d}": at(5) for i in range(450)} | {"new": at(9), "old": at(1)}, seed)
    expected = {row_id for row_id, when in rows.rows.items() if when > at(2)}
    position, seen, ended, calls = PassPosition(at(2)), set[str](), False, 0
    while not ended:
        position, taken, ended = read_pass(rows, position, size=20, pages=3)
        seen |= taken
        calls += 1
        assert calls < 100
        if taken:
            rows.rows[sorted(taken)[0]] = at(7)  # edited between two calls
        rows.shuffle()
    assert expected <= seen
