"""The pass rules of a list scan, on lists built here (the integration tests read real pages over HTTP)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from books_sync.errors import ZohoProtocolError
from books_sync.sync.scan import (
    FIRST_WINDOW,
    MIN_OVERLAP,
    Checkpoint,
    Order,
    PassPosition,
    PassReader,
    Window,
    pass_filter,
    start_or_resume,
    window_after,
)

Row = tuple[str, datetime | None]
SEEDS = int(os.environ.get("SCAN_SEEDS", "20"))  # SCAN_SEEDS=400 for a longer hunt
BROKEN = "row has no id"


def at(second: int) -> datetime:
    return datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=second)


def reader(order: Order = "any") -> PassReader[Row]:
    return PassReader[Row]("x.list", order, lambda row: row, lambda row: True)


def verdicts(page: Sequence[Row | str], position: PassPosition, order: Order = "any") -> list[str]:
    reading = reader(order).read(position, FIRST_WINDOW, page, resuming=False)
    return [f"{verdict}:{row[0]}" for verdict, _, row in reading.rows]


def took(position: PassPosition, *rows: tuple[int, str, datetime | None], order: Order = "any") -> PassPosition:
    for offset, row_id, when in rows:
        position = position.took(offset, row_id, when, order, anchored=True)
    return position


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
    position = took(PassPosition(at(0)), (0, "a", at(5)), (1, "b", at(5)))
    assert verdicts([("a", at(5)), ("b", at(9)), ("c", at(5))], position) == ["done:a", "take:b", "take:c"]


def test_a_row_stamped_in_the_future_is_taken_every_pass_and_moves_neither_cursor_nor_order() -> None:
    """Its time is unknown (the record parsers give None for a time later than now plus a skew)."""
    position = PassPosition(at(10))
    assert verdicts([("a", None), ("b", at(11))], position) == ["take:a", "take:b"]
    position = took(position, (0, "a", None), (1, "b", at(11)), order="newest_first")
    assert position.newest == at(11) and position.boundary == at(11)
    assert position.cursor_at_end(started_at=at(100)) == at(11)
    assert position.is_done("a", None) and not position.is_done("a", at(11))


def test_a_repeated_id_counts_once_and_its_last_copy_is_used() -> None:
    page: list[Row | str] = [("a", at(1)), ("a", at(1)), ("b", at(2)), ("a", at(3))]
    reading = reader().read(PassPosition(at(0)), FIRST_WINDOW, page, resuming=False)
    assert [row for _, _, row in reading.rows] == [("b", at(2)), ("a", at(3))]
    assert [offset for _, offset, _ in reading.rows] == [2, 3]  # offsets are places in the list
    assert reading.repeated == 2


def test_broken_rows_are_returned_for_the_caller_to_log() -> None:
    reading = reader().read(PassPosition(at(0)), FIRST_WINDOW, [BROKEN, ("a", at(1))], resuming=False)
    assert (reading.broken, reading.to_take) == ([BROKEN], 1)


def test_each_window_reads_a_few_rows_again_and_goes_about_180_on() -> None:
    """Any per_page from 100 to 200 is Zoho's to serve: one of them lands just behind what was read."""
    assert window_after(0) == FIRST_WINDOW and window_after(MIN_OVERLAP) == FIRST_WINDOW
    assert window_after(200) == Window(2, 198)  # rows 198-395: two read again
    progress = []
    for read in [*range(3, 20_000), *range(500_000, 520_000)]:
        window = window_after(read)
        assert window.start <= read - MIN_OVERLAP, read
        assert 100 <= window.per_page <= 200 and window.page >= 1
        assert window.end > read, read  # always forward
        if read >= 200:
            progress.append(window.end - read)
    assert min(progress) >= 130 and sum(progress) / len(progress) > 175


def test_a_new_window_that_only_repeats_rows_taken_in_this_call_is_a_protocol_error() -> None:
    """Going on would skip the real rows: it is a fault to retry, not data."""
    scan = reader()
    page: list[Row | str] = [(f"r{i}", at(5)) for i in range(200)]
    position = PassPosition(at(0))
    first = scan.read(position, FIRST_WINDOW, page, resuming=False)
    assert first.to_take == 200
    position = took(position, *((i, f"r{i}", at(5)) for i in range(200))).passed(FIRST_WINDOW, 200)
    again = window_after(position.read)
    with pytest.raises(ZohoProtocolError, match=r"x.list: page 2 brought no usable new rows \(200 repeated rows"):
        scan.refuse_a_stall(scan.read(position, again, page, resuming=False), again, has_more=True)
    scan.refuse_a_stall(scan.read(position, again, page, resuming=False), again, has_more=False)  # the last may


def test_rows_taken_in_an_earlier_call_may_fill_a_new_window() -> None:
    """Between two calls Zoho may order a tie differently: done rows can move onto rows not yet read."""
    position = took(PassPosition(at(0)), (0, "a", at(5)), (1, "b", at(5)))
    scan = reader()
    reading = scan.read(position, FIRST_WINDOW, [("b", at(5)), ("a", at(5))], resuming=True)
    scan.refuse_a_stall(reading, FIRST_WINDOW, has_more=True)
    assert reading.to_take == 0


def test_a_page_of_older_rows_is_no_error_and_only_a_proven_newest_first_list_ends_the_pass() -> None:
    position = PassPosition(at(10))
    older = reader().read(position, FIRST_WINDOW, [("a", at(3)), ("b", at(1))], resuming=False)
    assert (older.to_take, older.past_the_end) == (0, False)
    newest_first = reader("newest_first").read(position, FIRST_WINDOW, [("c", at(12)), ("a", at(3))], resuming=False)
    assert (newest_first.to_take, newest_first.past_the_end) == (1, True)
    unsorted = reader("newest_first").read(position, FIRST_WINDOW, [("a", at(3)), ("c", at(12))], resuming=False)
    assert unsorted.past_the_end is False  # the sort was ignored: later rows may be newer
    ties = reader("newest_first").read(position, FIRST_WINDOW, [("a", at(3)), ("b", at(3))], resuming=False)
    assert ties.past_the_end is False  # a window of ties proves no order
    ascending = PassPosition(at(10)).observed(went_down=False, went_up=True)
    later = reader("newest_first").read(ascending, FIRST_WINDOW, [("c", at(5)), ("d", at(4))], resuming=False)
    assert later.past_the_end is False  # this pass saw the list go up once: the order is not proven


def test_the_cursor_moves_to_the_newest_row_taken_but_never_past_the_pass_start() -> None:
    position = took(PassPosition(at(0)), (0, "a", at(50)), (1, "b", at(20)))
    assert position.cursor_at_end(started_at=at(100)) == at(50)
    assert position.cursor_at_end(started_at=at(30)) == at(30)
    assert PassPosition(at(0)).cursor_at_end(started_at=at(30)) is None


def test_a_checkpoint_round_trips_and_an_old_format_starts_a_new_pass() -> None:
    checkpoint, resumed = start_or_resume(
        None, cursor=at(100), window_days=1, overlap_seconds=10, full_resync=False, reconcile=True,
        first_phase="scan", now=at(200),
    )  # fmt: skip
    assert not resumed and checkpoint.position.since == at(90)
    checkpoint.position = took(checkpoint.position, (0, "a", at(150)), (1, "b", None), order="newest_first")
    checkpoint.position = checkpoint.position.observed(True, False).passed(FIRST_WINDOW, 2)
    again = Checkpoint.from_json(checkpoint.to_json())
    assert again == checkpoint
    old = {
        "format": 2,
        "phase": "scan",
        "pass": {"since": at(5).isoformat(), "page": 3},
        "startedAt": at(1).isoformat(),
    }
    restarted, resumed = start_or_resume(
        old, cursor=at(100), window_days=1, overlap_seconds=10, full_resync=False, reconcile=False,
        first_phase="scan", now=at(200),
    )  # fmt: skip
    assert not resumed and restarted.position == type(restarted.position)(at(90))


# ------------------------------------------------------------------------------ lists that change under the pass


class LiveList:
    """A list Zoho serves by offset while it changes: sorted by a key; ties ordered by chance when asked."""

    def __init__(self, rows: dict[str, datetime], order: Order, seed: int) -> None:
        self.rows = dict(rows)
        self.created = {row_id: index for index, row_id in enumerate(rows)}  # "any": by creation
        self.order_kind = order
        self.rng = random.Random(seed)
        self.shuffle()

    def shuffle(self) -> None:
        """Sort again; ties (newest first) in a new order, as Zoho does not promise theirs."""
        if self.order_kind == "newest_first":
            keyed = [(-when.timestamp(), self.rng.random(), row_id) for row_id, when in self.rows.items()]
        else:
            keyed = [(0.0, float(self.created[row_id]), row_id) for row_id in self.rows]
        self.order = [row_id for *_, row_id in sorted(keyed)]

    def window(self, window: Window) -> tuple[list[Row | str], bool]:
        chunk = self.order[window.start : window.end]
        return [(row_id, self.rows[row_id]) for row_id in chunk], window.end < len(self.order)

    def delete(self, row_id: str) -> None:
        del self.rows[row_id]
        self.order.remove(row_id)

    def edit(self, row_id: str, when: datetime) -> None:
        self.rows[row_id] = when
        self.shuffle_keeping_ties()

    def shuffle_keeping_ties(self) -> None:
        place = {row_id: index for index, row_id in enumerate(self.order)}
        if self.order_kind == "newest_first":
            self.order.sort(key=lambda row_id: (-self.rows[row_id].timestamp(), place[row_id]))


Between = Callable[[LiveList, set[str]], None]  # what Zoho does between two reads (sees the ids taken so far)


def _nothing(live: LiveList, taken: set[str]) -> None:
    """Zoho changes nothing meanwhile."""


def read_call(
    rows: LiveList, position: PassPosition, order: Order, windows: int, between: Between
) -> tuple[PassPosition, set[str], bool]:
    """One call as the frame makes it, `windows` windows beyond what a resume reads again (the time budget
    never stops a call before it made progress): (position, ids taken, whether the pass ended)."""
    scan = reader(order)
    reached = position.read
    position = position.resumed()
    window, resuming, taken, left = window_after(position.read), True, set[str](), windows
    while left > 0:
        left -= 1 if window.end > reached else 0
        page, has_more = rows.window(window)
        reading = scan.read(position, window, page, resuming=resuming)
        scan.refuse_a_stall(reading, window, has_more)
        position = position.observed(reading.went_down, reading.went_up)
        for verdict, offset, (row_id, when) in reading.rows:
            if verdict == "take":
                position = position.took(offset, row_id, when, order, anchored=reading.continuous)
                taken.add(row_id)
            else:
                position = position.saw(offset, row_id, when, order, anchored=reading.continuous)
        if reading.continuous:
            position = position.passed(window, len(page))
            if not has_more or reading.past_the_end:
                return position, taken, True
            resuming = False
        else:
            position = position.step_back(window)
        between(rows, taken)
        window = window_after(position.read)
    return position, taken, False


def read_whole_pass(
    rows: LiveList, since: datetime, order: Order, between: Between, windows: int = 3, after_call: Between = _nothing
) -> set[str]:
    position, seen, ended, calls = PassPosition(since), set[str](), False, 0
    while not ended:
        position, taken, ended = read_call(rows, position, order, windows, between)
        seen |= taken
        calls += 1
        assert calls < 200
        after_call(rows, taken)
        rows.shuffle()
    return seen


@pytest.mark.parametrize("seed", range(5))
def test_a_tie_group_across_windows_reshuffled_and_edited_between_calls_is_read_whole(seed: int) -> None:
    """450 rows modified in one second (a bulk import), read 3 windows per call; between calls Zoho
    orders the tie differently and a done row is edited (it leaves the tie for the top)."""
    rows = LiveList({f"bulk{i:03d}": at(5) for i in range(450)} | {"new": at(9), "old": at(1)}, "newest_first", seed)
    expected = {row_id for row_id, when in rows.rows.items() if when > at(2)}

    def edit_a_done_row(live: LiveList, taken: set[str]) -> None:
        if taken:
            live.rows[sorted(taken)[0]] = at(7)

    assert expected <= read_whole_pass(rows, at(2), "newest_first", _nothing, windows=1, after_call=edit_a_done_row)


@pytest.mark.parametrize("order", ["any", "newest_first"])
@pytest.mark.parametrize("seed", range(SEEDS))
def test_no_row_present_throughout_is_missed_whatever_is_deleted_inserted_or_edited_between_two_reads(
    order: Order, seed: int
) -> None:
    """Between any two window reads Zoho deletes rows already read (shifting the rest up), sometimes more
    than the overlap at once, inserts new ones and edits some: every row that was there from the pass's
    start to its end, unedited, is read (edited and new ones are the next pass's: their time is later)."""
    rng = random.Random(seed)
    rows = LiveList({f"r{i:04d}": at(rng.randrange(3, 400)) for i in range(1500)}, order, seed)
    since, clock = at(2), 1000
    touched: set[str] = set()

    def churn(live: LiveList, taken: set[str]) -> None:
        nonlocal clock
        for _ in range(rng.choice([0, 1, 1, 2, 3, 30])):  # sometimes a burst beyond the overlap
            read_ids = [row_id for row_id in live.order[: len(live.order) // 2] if row_id in taken] or live.order
            victim = rng.choice(read_ids)
            live.delete(victim)
            touched.add(victim)
        for _ in range(rng.choice([0, 0, 1, 4])):
            clock += 1
            new = f"n{clock}"
            live.rows[new] = at(clock)
            live.created[new] = clock + 10_000
            touched.add(new)
            live.shuffle_keeping_ties() if order == "newest_first" else live.shuffle()
        if rng.random() < 0.3 and live.order:
            clock += 1
            edited = rng.choice(live.order)
            touched.add(edited)
            live.edit(edited, at(clock))

    present = {row_id for row_id, when in rows.rows.items() if when > since}
    seen = read_whole_pass(rows, since, order, churn)
    missed = (present - touched) - seen
    assert not missed, f"{len(missed)} rows present throughout never read: {sorted(missed)[:5]}"
