"""Lossless scanning of a Zoho list while Zoho keeps changing it: pure rules, unit-tested.

A scan is a *pass*: one fixed filter (`last_modified_time` = the cursor minus an overlap, or the
sync window's start) over the list it selects, read in the order the step asks for. Zoho pages by
offset (`page` times `per_page`), so a row deleted behind the reading position moves every later row
one place up: read as fixed pages, the row that crossed the page boundary would be read by no page
and the pass would end without it. So a pass is read in *windows* that overlap: each window starts
a few rows before the end of what was read (`window_after`: a `page` and `per_page` whose offset
falls just behind it), and must show again, unchanged, one of the rows read just before (the
*anchors*). An unchanged row read before is found in the new window only where nothing before it
moved further than the overlap: every row after it (the unread ones among them) is then in this
window or later. A window that shows no anchor proves nothing: the pass steps back a window and
reads again, as far back as the list's first row if it must (which needs no anchor). Insertions
only push rows down (read twice, harmless); an edit moves a row, which the next pass reads (its
time is after this pass's start). Cost: a window re-reads a few rows, so a pass of N rows takes
about N / 180 calls instead of N / 200; a quiet run (one window) costs nothing more.

Nothing else here depends on what Zoho does not promise:

- the filter may be "greater than" (documented), "at or after" (seen), or ignored: the filter
  sits at least a second before anything the last pass committed, and rows older than it are
  skipped, not an error;
- the order asked for may be ignored (contacts' `sort_order` is not in Zoho's reference): a pass
  ends early on a newest-first list only once this pass has shown the list going down in time and
  never up, never on a window of ties alone; otherwise it reads every row;
- the list may not be sorted by modification time at all (invoices cannot be): the cursor moves
  only when the whole pass is read, to the newest row taken (never past the pass's start, so an
  edit made during a long pass is read by the next one);
- a modification time later than now (plus a small skew) is unknown: the row is taken, but its
  time moves neither the cursor nor the order evidence;
- the order among rows modified in the same second may change between two calls, and a done row
  may be edited before a resume: a resumed pass reads again from where the tie at its boundary
  began, anchored on a row before the tie, skipping by *id and modification time* the rows it
  already took there. A row taken again is harmless: every write is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Generic, Literal, TypeVar, cast, get_args

from books_sync.errors import ZohoProtocolError
from books_sync.sync.seen_keys import SeenKeys
from books_sync.sync.summary import Phase

Order = Literal["newest_first", "any"]  # what the step asks of the list; "any" promises nothing
Row = TypeVar("Row")
CHECKPOINT_FORMAT = 3
MAX_PER_PAGE = 200  # Zoho's largest page
MIN_PER_PAGE = 100  # a window is never smaller (each call brings at least this many rows)
MIN_OVERLAP = 2  # rows of the last window read again: a deletion behind the reading position is absorbed
TAIL = 50  # anchors kept: the last rows read
BEFORE_TIE = 3  # rows kept from just before the tie at a newest-first pass's boundary: a resume's anchors
UNKNOWN = "?"  # a modification time too far in the future to be true, as stored in `done`


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _stamp(modified: datetime | None) -> str:
    return modified.isoformat() if modified is not None else UNKNOWN


@dataclass(frozen=True)
class Window:
    """One list call: Zoho's `page` of `per_page` rows, i.e. rows `start` to `end` (exclusive)."""

    page: int
    per_page: int

    @property
    def start(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def end(self) -> int:
        return self.page * self.per_page


FIRST_WINDOW = Window(1, MAX_PER_PAGE)


def window_after(read: int) -> Window:
    """The window that goes furthest past `read` rows while reading at least `MIN_OVERLAP` of them again.

    Any `per_page` from `MIN_PER_PAGE` to 200 is allowed, so among them one lands just behind `read`:
    each call moves about 180 rows on (at worst 130). Nothing read yet: the first window.
    """
    if read <= MIN_OVERLAP:
        return FIRST_WINDOW
    best = FIRST_WINDOW
    for per_page in range(MAX_PER_PAGE, MIN_PER_PAGE - 1, -1):
        candidate = Window((read - MIN_OVERLAP) // per_page + 1, per_page)
        if candidate.end > best.end:
            best = candidate
    return best


Anchor = tuple[str, str]  # (id, modification time as stored): a row read before, as it was


@dataclass(frozen=True)
class PassPosition:
    """Where a pass stands: its filter, how far it has read, and what the next window must show again."""

    since: datetime | None  # the pass reads rows modified after this (None: every row)
    read: int = 0  # rows of the list read so far, as the list stood when they were read
    newest: datetime | None = None  # the newest (plausible) modification time taken in this pass
    boundary: datetime | None = None  # (newest first) the modification time of the last row read
    tie_offset: int = 0  # (newest first) where rows at `boundary` began
    before_tie: tuple[Anchor, ...] = ()  # (newest first) the rows read just before them
    done: tuple[tuple[int, str, str], ...] = ()  # (offset, id, time) taken where a window or a resume reads again
    tail: tuple[Anchor, ...] = ()  # the last rows read: the next window must show one of them
    went_down: bool = False  # this pass saw a row older than the one before it
    went_up: bool = False  # this pass saw a row newer than the one before it

    @property
    def resume_at(self) -> int:
        """Rows a resumed pass counts as read: back to where the tie at the boundary began."""
        return min(self.tie_offset, self.read)

    def resumed(self) -> PassPosition:
        """A new call reads again from where the tie at the boundary began: rows there count as unread."""
        return replace(self, read=self.resume_at)

    @property
    def newest_first_proven(self) -> bool:
        """The list has gone down in time in this pass, and never up."""
        return self.went_down and not self.went_up

    def anchors(self, resuming: bool, order: Order) -> set[Anchor]:
        """What the next window must show one of. Within a call, the rows just read; on a resume (the tie
        order may have changed since) newest-first anchors come from before the tie."""
        if resuming and order == "newest_first":
            return set(self.before_tie)
        return set(self.tail)

    def is_done(self, row_id: str, modified: datetime | None) -> bool:
        stamp = _stamp(modified)
        return any(done_id == row_id and done_stamp == stamp for _, done_id, done_stamp in self.done)

    def saw(self, offset: int, row_id: str, modified: datetime | None, order: Order, *, anchored: bool) -> PassPosition:
        """A row at or after the filter was read at `offset` (taken or not). Only rows past what was read,
        in a window that showed an anchor, move the position: a row read again (the overlap) does not,
        nor does any row of a window read across a shift (`anchored` False)."""
        if offset < self.read or not anchored:
            return self
        moved = replace(self, tail=(*self.tail, (row_id, _stamp(modified)))[-TAIL:], read=offset + 1)
        if order != "newest_first":
            return replace(moved, tie_offset=offset)
        if modified is None or modified == self.boundary:
            return moved
        return replace(moved, boundary=modified, tie_offset=offset, before_tie=self.tail[-BEFORE_TIE:])

    def took(
        self, offset: int, row_id: str, modified: datetime | None, order: Order, *, anchored: bool
    ) -> PassPosition:
        """A row was taken (committed with this position)."""
        moved = self.saw(offset, row_id, modified, order, anchored=anchored)
        newest = self.newest if modified is None or (self.newest and self.newest >= modified) else modified
        return replace(moved, newest=newest, done=(*moved.done, (offset, row_id, _stamp(modified))))

    def observed(self, went_down: bool, went_up: bool) -> PassPosition:
        """What a window showed of the list's order (two neighbours going down, or up, in time)."""
        return replace(self, went_down=self.went_down or went_down, went_up=self.went_up or went_up)

    def passed(self, window: Window, rows: int) -> PassPosition:
        """A window is read to its end (it held `rows` rows, and showed an anchor); `done` keeps what a
        later window or a resume reads again."""
        read = max(self.read, window.start + rows)
        keep = min(self.tie_offset, read - MAX_PER_PAGE)
        return replace(self, read=read, done=tuple(entry for entry in self.done if entry[0] >= keep))

    def step_back(self, window: Window) -> PassPosition:
        """`window` showed none of the anchors: the list moved by more than the overlap. Its rows were
        taken (they are real) but moved nothing; the pass reads again a window further back, and that
        window must show one of the same anchors."""
        return replace(self, read=min(self.read, max(0, window.start - MAX_PER_PAGE + MIN_OVERLAP)))

    def cursor_at_end(self, started_at: datetime) -> datetime | None:
        """The cursor once the whole pass is read: the newest row taken, never past the pass's start."""
        if self.newest is None:
            return None
        return min(self.newest, started_at.replace(microsecond=0))

    def to_json(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "read": self.read,
            "newest": _iso(self.newest),
            "boundary": _iso(self.boundary),
            "tieOffset": self.tie_offset,
            "beforeTie": [list(anchor) for anchor in self.before_tie],
            "done": [list(entry) for entry in self.done],
            "tail": [list(anchor) for anchor in self.tail],
            "wentDown": self.went_down,
            "wentUp": self.went_up,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PassPosition:
        return cls(
            since=_moment(data.get("since")),
            read=int(data.get("read", 0)),
            newest=_moment(data.get("newest")),
            boundary=_moment(data.get("boundary")),
            tie_offset=int(data.get("tieOffset", 0)),
            before_tie=tuple((str(i), str(s)) for i, s in data.get("beforeTie", [])),
            done=tuple((int(offset), str(row_id), str(stamp)) for offset, row_id, stamp in data.get("done", [])),
            tail=tuple((str(i), str(s)) for i, s in data.get("tail", [])),
            went_down=bool(data.get("wentDown")),
            went_up=bool(data.get("wentUp")),
        )


Verdict = Literal["take", "done", "skip"]  # skip: older than the filter, or not a record the step syncs


@dataclass(frozen=True)
class PageReading(Generic[Row]):
    """One window of a pass, classified in list order."""

    rows: list[tuple[Verdict, int, Row]]  # every usable row, with its offset in the list
    broken: list[str]  # rows too broken to use: their reasons, for the caller to log
    repeated: int = 0  # rows dropped because their id shows up again later in the window
    continuous: bool = True  # it showed an anchor (or starts the list): no row can have slipped past
    went_down: bool = False  # two neighbours in it going down in time
    went_up: bool = False  # ... or up
    past_the_end: bool = False  # a newest-first list, proven so, went below the filter: later rows are older
    repeats_only: bool = False  # every usable row past what this call had read was taken earlier in it
    new_rows: int = 0  # rows (broken ones too) past what this call had read

    @property
    def to_take(self) -> int:
        return sum(1 for verdict, _, _ in self.rows if verdict == "take")

    @property
    def stalls(self) -> bool:
        """Rows past what this call had read, but none of them usable and new: only repeats, or broken."""
        return self.new_rows > 0 and self.repeats_only and not self.past_the_end

    @property
    def repeats_note(self) -> str:
        """For an error message: how many rows the window repeated, if any."""
        again = self.repeated + sum(1 for verdict, _, _ in self.rows if verdict == "done")
        return f" ({again} repeated rows already read)" if again else ""


Key = Callable[[Row], tuple[str, datetime | None]]  # a parsed row's id and (plausible) modification time


@dataclass
class PassReader(Generic[Row]):
    """Reads the windows of one pass in one call; refuses a window that only repeats earlier ones."""

    endpoint: str
    order: Order
    key: Key[Row]
    wanted: Callable[[Row], bool]  # False: a record this step does not sync (a vendor among contacts)
    stalled: str = "no usable new rows"  # how the "list is not advancing" error words it
    _taken_here: SeenKeys = field(default_factory=SeenKeys)  # rows taken in this call
    _furthest: int = 0  # the list's rows this call has read so far

    def read(
        self, position: PassPosition, window: Window, parsed: Sequence[Row | str], *, resuming: bool
    ) -> PageReading[Row]:
        placed = [(window.start + index, row) for index, row in enumerate(parsed) if not isinstance(row, str)]
        last = {self.key(row)[0]: index for index, (_, row) in enumerate(placed)}
        kept = [(offset, row) for index, (offset, row) in enumerate(placed) if last[self.key(row)[0]] == index]
        rows = [(self._verdict(position, row), offset, row) for offset, row in kept]
        anchors = position.anchors(resuming, self.order)
        continuous = window.start == 0 or any((i, _stamp(m)) in anchors for i, m in map(self.key, (r for _, r in kept)))
        down, up = _order_seen([self.key(row)[1] for _, row in kept])
        fresh = [(verdict, row) for verdict, offset, row in rows if offset >= self._furthest]
        beyond = len(parsed) - max(0, self._furthest - window.start)  # rows (broken ones too) past what was read
        repeats_only = all((self.key(row)[0], _stamp(self.key(row)[1])) in self._taken_here for _, row in fresh)
        self._taken_here.update(
            (i, _stamp(m)) for i, m in (self.key(row) for verdict, _, row in rows if verdict == "take")
        )
        self._furthest = max(self._furthest, window.start + len(parsed))
        ending = continuous and self._past_the_end(position.observed(down, up), [self.key(r)[1] for _, r in kept])
        broken = [row for row in parsed if isinstance(row, str)]
        return PageReading(rows, broken, len(placed) - len(kept), continuous, down, up, ending, repeats_only, beyond)

    def _verdict(self, position: PassPosition, row: Row) -> Verdict:
        row_id, modified = self.key(row)
        if (position.since is not None and modified is not None and modified <= position.since) or not self.wanted(row):
            return "skip"
        return "done" if position.is_done(row_id, modified) else "take"

    def refuse_a_stall(self, reading: PageReading[Row], window: Window, has_more: bool) -> None:
        """A window whose rows beyond what this call had read only repeat rows taken in this call is an
        error: going on could skip the list's real rows. Rows taken in an earlier call may legitimately
        fill a window: Zoho may order a tie differently."""
        if has_more and reading.stalls:
            raise ZohoProtocolError(
                self.endpoint,
                f"page {window.page} brought {self.stalled}{reading.repeats_note}; the list is not advancing",
            )

    def _past_the_end(self, position: PassPosition, times: Sequence[datetime | None]) -> bool:
        """Newest first proven in this pass, and this window's last (plausible) row older than the filter."""
        known = [moment for moment in times if moment is not None]
        if self.order != "newest_first" or position.since is None or not known:
            return False
        return position.newest_first_proven and known[-1] <= position.since


def _order_seen(times: Sequence[datetime | None]) -> tuple[bool, bool]:
    """Whether neighbouring (plausible) times in a window go down, and whether they go up."""
    known = [moment for moment in times if moment is not None]
    pairs = list(pairwise(known))
    return any(newer > older for newer, older in pairs), any(newer < older for newer, older in pairs)


@dataclass
class Checkpoint:
    """Where a sync run stands between invocations (stored in `sync_metadata.<step>_checkpoint`).

    Phases run in order; each step names its own (customers: scan → reconcile → verify; invoices:
    skips → scan → details → reconcile → verify → confirm).
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
