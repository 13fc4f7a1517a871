"""The reconcile's check of rows Zoho did not list: every row asked for once, and a keyed walk reading
each row once (its growing limit once handed back 50 more rows a batch: quadratic)."""

from __future__ import annotations

from datetime import UTC, datetime

from books_sync.sync.frame import VERIFY_BATCH, unseen_batches

SINCE = datetime(2026, 12, 6, tzinfo=UTC)


class Unseen:
    """Rows still unseen (sorted ids); a checked row becomes seen unless Zoho did not answer for it."""

    def __init__(self, count: int, unanswered: set[str]) -> None:
        self.rows = [f"{n:06d}" for n in range(count)]
        self.unanswered = unanswered
        self.handed = 0  # rows the candidates queries returned, over the walk

    def by_key(self, _since: datetime, after: str | None, limit: int) -> list[str]:
        found = [row for row in self.rows if after is None or row > after][:limit]
        self.handed += len(found)
        return found

    def by_urgency(self, _since: datetime, _after: str | None, limit: int) -> list[str]:
        found = sorted(self.rows, key=lambda row: (row not in self.unanswered, row[::-1]))[:limit]
        self.handed += len(found)
        return found

    def check(self, batch: list[str]) -> None:
        self.rows = [row for row in self.rows if row not in batch or row in self.unanswered]


def walk(unseen: Unseen, *, keyed: bool) -> list[str]:
    asked = []
    for batch in unseen_batches(unseen.by_key if keyed else unseen.by_urgency, SINCE, keyed=keyed):
        assert len(batch) <= VERIFY_BATCH
        asked += batch
        unseen.check(batch)
    return asked


def test_a_keyed_walk_asks_for_each_row_once_and_reads_each_row_once() -> None:
    unseen = Unseen(5_000, unanswered={"000007", "002500", "004999"})
    asked = walk(unseen, keyed=True)
    assert sorted(asked) == [f"{n:06d}" for n in range(5_000)]
    assert unseen.handed == 5_000  # a limit growing by 50 a batch handed back 127,500 rows here


def test_by_urgency_unanswered_rows_come_first_again_and_every_row_is_still_asked_for_once() -> None:
    unseen = Unseen(500, unanswered={f"{n:06d}" for n in range(0, 500, 7)})
    asked = walk(unseen, keyed=False)
    assert sorted(asked) == [f"{n:06d}" for n in range(500)]
