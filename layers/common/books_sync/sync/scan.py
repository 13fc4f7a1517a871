"""Lossless scanning of a Zoho list as Zoho documents it: pure rules, unit-tested.

A scan is a *pass*: one fixed filter (`last_modified_time` = the cursor minus an overlap, or the
sync window's start) and pages 1, 2, 3... of the list it selects, read in the order the step
asks for. Nothing in it depends on what Zoho does not promise:

- the filter may be "greater than" (documented), "at or after" (seen), or ignored: the filter
  sits at least a second before anything the last pass committed, and rows older than it are
  skipped, not an error;
- the list may not be sorted by modification time (invoices cannot be): the cursor moves only
  when the whole pass is read, to the newest row taken (never past the pass's start, so an edit
  made during a long pass is read by the next one);
- the order among rows modified in the same second may change between two calls, and a done row
  may be edited before a resume: a resumed pass reads again from the page where the tie at its
  boundary began (and at least the page before its position), skipping by *id and modification
  time* the rows it already took there. A row taken again is harmless: every write is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Generic, Literal, TypeVar, cast, get_args

from books_sync.errors import ZohoProtocolError
from books_sync.sync.summary import Phase

Order = Literal["newest_first", "any"]  # what the step asks of the list; "any" promises nothing
Row = TypeVar("Row")
CHECKPOINT_FORMAT = 2


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class PassPosition:
    """Where a pass stands: its filter, the next page, and what a resume must not take twice."""

    since: datetime | None  # the pass reads rows modified after this (None: every row)
    page: int = 1  # the next page to read
    newest: datetime | None = None  # the newest modification time taken in this pass
    boundary: datetime | None = None  # (newest first) the modification time of the last row read
    tie_page: int = 1  # (newest first) the page on which rows at `boundary` began
    done: tuple[tuple[int, str, str], ...] = ()  # (page, id, modified) taken on pages a resume reads again

    @property
    def resume_page(self) -> int:
        """Where a later call starts reading this pass again."""
        return max(1, min(self.tie_page, self.page - 1))

    def is_done(self, row_id: str, modified: datetime) -> bool:
        return any(done_id == row_id and stamp == modified.isoformat() for _, done_id, stamp in self.done)

    def read(self, page: int, modified: datetime, order: Order) -> PassPosition:
        """A row at or after the filter was read on `page` (taken or not)."""
        if order != "newest_first":
            return replace(self, tie_page=page)
        if modified == self.boundary:
            return self
        return replace(self, boundary=modified, tie_page=page)

    def took(self, page: int, row_id: str, modified: datetime, order: Order) -> PassPosition:
        """A row was taken (committed with this position)."""
        moved = self.read(page, modified, order)
        newest = modified if self.newest is None or modified > self.newest else self.newest
        return replace(moved, newest=newest, done=(*moved.done, (page, row_id, modified.isoformat())))

    def next_page(self) -> PassPosition:
        """The page in hand is read to its end; a resume now reads no earlier than `resume_page`."""
        moved = replace(self, page=self.page + 1)
        keep = moved.resume_page
        return replace(moved, done=tuple(entry for entry in moved.done if entry[0] >= keep))

    def cursor_at_end(self, started_at: datetime) -> datetime | None:
        """The cursor once the whole pass is read: the newest row taken, never past the pass's start."""
        if self.newest is None:
            return None
        return min(self.newest, started_at.replace(microsecond=0))

    def to_json(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "page": self.page,
            "newest": _iso(self.newest),
            "boundary": _iso(self.boundary),
            "tiePage": self.tie_page,
            "done": [list(entry) for entry in self.done],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PassPosition:
        return cls(
            since=_moment(data.get("since")),
            page=int(data.get("page", 1)),
            newest=_moment(data.get("newest")),
            boundary=_moment(data.get("boundary")),
            tie_page=int(data.get("tiePage", 1)),
            done=tuple((int(page), str(row_id), str(stamp)) for page, row_id, stamp in data.get("done", [])),
        )


Verdict = Literal["take", "done", "skip"]  # skip: older than the filter, or not a record the step syncs


@dataclass(frozen=True)
class PageReading(Generic[Row]):
    """One page of a pass, classified in page order."""

    rows: list[tuple[Verdict, Row]]  # every usable row, in page order
    broken: list[str]  # rows too broken to use: their reasons, for the caller to log
    repeated: int = 0  # rows dropped because their id shows up again later in the page
    past_the_end: bool = False  # a newest-first list went below the filter: later pages are older still
    repeats_only: bool = False  # every usable row was taken earlier in this invocation

    @property
    def to_take(self) -> int:
        return sum(1 for verdict, _ in self.rows if verdict == "take")

    @property
    def stalls(self) -> bool:
        """Nothing to take, and nothing passed over for being older or unwanted."""
        return self.repeats_only and not self.past_the_end and all(verdict == "done" for verdict, _ in self.rows)

    @property
    def repeats_note(self) -> str:
        """For an error message: how many rows the page repeated, if any."""
        again = self.repeated + sum(1 for verdict, _ in self.rows if verdict == "done")
        return f" ({again} repeated rows already read)" if again else ""


@dataclass
class PassReader(Generic[Row]):
    """Reads the pages of one pass in one invocation; refuses a new page that only repeats old ones."""

    endpoint: str
    order: Order
    key: Callable[[Row], tuple[str, datetime]]  # a parsed row's (id, last_modified_time)
    wanted: Callable[[Row], bool]  # False: a record this step does not sync (a vendor among contacts)
    first_new_page: int  # pages before this one are read again on resume (their done rows are expected)
    stalled: str = "no usable new rows"  # how the "list is not advancing" error words it
    _taken_here: set[tuple[str, datetime]] = field(default_factory=set)  # rows taken in this invocation

    def read(self, position: PassPosition, number: int, parsed: Sequence[Row | str]) -> PageReading[Row]:
        usable = [row for row in parsed if not isinstance(row, str)]
        broken = [row for row in parsed if isinstance(row, str)]
        last = {self.key(row)[0]: index for index, row in enumerate(usable)}
        rows: list[tuple[Verdict, Row]] = []
        for index, row in enumerate(usable):
            row_id, modified = self.key(row)
            if last[row_id] != index:
                continue
            if (position.since is not None and modified <= position.since) or not self.wanted(row):
                rows.append(("skip", row))
            elif position.is_done(row_id, modified):
                rows.append(("done", row))
            else:
                rows.append(("take", row))
        repeats_only = all(self.key(row) in self._taken_here for _, row in rows)
        self._taken_here.update(self.key(row) for verdict, row in rows if verdict == "take")
        past_the_end = self._past_the_end(position, usable)
        return PageReading(rows, broken, len(usable) - len(last), past_the_end, repeats_only)

    def refuse_a_stall(self, reading: PageReading[Row], number: int, has_more: bool) -> None:
        """A new page (not one a resume reads again) that only repeats rows taken in this invocation,
        or only breaks, is an error: going on could skip the page's real rows. Rows taken in an
        earlier invocation may legitimately fill a page: Zoho may order a tie differently."""
        if has_more and number >= self.first_new_page and reading.stalls:
            raise ZohoProtocolError(
                self.endpoint, f"page {number} brought {self.stalled}{reading.repeats_note}; the list is not advancing"
            )

    def _past_the_end(self, position: PassPosition, rows: Sequence[Row]) -> bool:
        """A newest-first page, in that order, whose last row is older than the filter."""
        if self.order != "newest_first" or position.since is None or not rows:
            return False
        times = [self.key(row)[1] for row in rows]
        in_order = all(newer >= older for newer, older in pairwise(times))
        return in_order and times[-1] <= position.since


@dataclass
class Checkpoint:
    """Where a sync run stands between invocations (stored in `sync_metadata.<step>_checkpoint`).

    Phases run in order; each step names its own (customers: scan → reconcile → verify; invoices:
    skips → scan → details → reconcile → verify).
    """

    position: PassPosition
    full_resync: bool
    started_at: datetime
    reconcile: bool
    phase: Phase
    reconcile_page: int = 1
    reconcile_started_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "phase": self.phase,
            "pass": self.position.to_json(),
            "fullResync": self.full_resync,
            "startedAt": self.started_at.isoformat(),
            "reconcile": self.reconcile,
            "reconcilePage": self.reconcile_page,
            "reconcileStartedAt": _iso(self.reconcile_started_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            position=PassPosition.from_json(data.get("pass") or {}),
            full_resync=bool(data.get("fullResync")),
            started_at=datetime.fromisoformat(data["startedAt"]),
            reconcile=bool(data.get("reconcile")),
            phase=_phase(data["phase"]),
            reconcile_page=int(data.get("reconcilePage", 1)),
            reconcile_started_at=_moment(data.get("reconcileStartedAt")),
        )


def _phase(value: Any) -> Phase:
    if value not in get_args(Phase):
        raise ValueError(f"not a phase: {value!r}")
    return cast(Phase, value)


def pass_filter(
    cursor: datetime | None, *, window_days: int, overlap_seconds: float, full: bool, now: datetime
) -> datetime:
    """Where a new pass starts: the sync window on a first or full sync, else just behind the cursor.

    At least one second behind, so a "greater than" filter still returns rows at the cursor's
    second; on a whole second, as Zoho's filter has no fractions.
    """
    if full or cursor is None:
        since = now - timedelta(days=window_days)
    else:
        since = cursor - timedelta(seconds=max(overlap_seconds, 1.0))
    return since.replace(microsecond=0)


def start_or_resume(
    saved: dict[str, Any] | None,
    *,
    cursor: datetime | None,
    window_days: int,
    overlap_seconds: float,
    full_resync: bool,
    reconcile: bool,
    first_phase: Phase,
    now: datetime,
) -> tuple[Checkpoint, bool]:
    """The saved checkpoint (a plain run never drops a full resync in progress), else a new one.

    Returns (checkpoint, resumed). A checkpoint of an older format is dropped: the run starts a new
    pass from the committed cursor, which loses nothing.
    """
    if saved and saved.get("format") == CHECKPOINT_FORMAT and (not full_resync or saved.get("fullResync")):
        return Checkpoint.from_json(saved), True
    since = pass_filter(cursor, window_days=window_days, overlap_seconds=overlap_seconds, full=full_resync, now=now)
    return Checkpoint(PassPosition(since), full_resync, now, reconcile or full_resync, first_phase), False
