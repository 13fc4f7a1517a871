"""How much of the detail queue one read takes: a pass through the queue in a bounded number of reads."""

from __future__ import annotations

import pytest

from books_sync.sync.details import queue_read_size


def reads_to_drain(waiting: int, left: int) -> int:
    """Reads of a first sync's detail phase, each read's customers fetched before the next read."""
    reads, queued = 0, waiting
    size = queue_read_size(waiting, left)
    while queued > 0 and left > 0:
        taken = min(size, queued, left)
        queued, left, reads = queued - taken, left - taken, reads + 1
    return reads


@pytest.mark.parametrize("waiting", [10_000, 100_000, 500_000])
def test_a_pass_through_the_queue_takes_about_ten_reads_whatever_its_size(waiting: int) -> None:
    """Each read costs a pass over the waiting customers; 1,000 at a time took 100 at 100,000."""
    assert reads_to_drain(waiting, left=10**9) <= 10


def test_a_read_is_at_least_a_thousand_never_more_than_allowed_and_at_most_50_000() -> None:
    assert queue_read_size(40, left=10**9) == 1000
    assert queue_read_size(100_000, left=300) == 300
    assert queue_read_size(10_000_000, left=10**9) == 50_000
    assert queue_read_size(0, left=0) == 1  # never a read of nothing
