"""Resumable, lossless scanning of a Zoho list sorted by `last_modified_time` (oldest first).

The position is keyset-based: (since, how many rows at exactly `since` are already done). Each
request asks for `last_modified_time >= since` and skips the rows already done, so records that
change during a long scan (and move to the end of the list) never shift unseen rows into pages
already read, which plain page numbers would do. Ties wider than a page are walked page by page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast, get_args

from books_sync.errors import ZohoProtocolError
from books_sync.sync.summary import Phase
from books_sync.zoho.client import PER_PAGE


@dataclass(frozen=True)
class ScanPosition:
    since: datetime | None
    done_at_since: int = 0

    @property
    def page(self) -> int:
        return self.done_at_since // PER_PAGE + 1

    @property
    def skip(self) -> int:
        return self.done_at_since % PER_PAGE

    def after(self, modified_at: datetime) -> ScanPosition:
        """The position once a row modified at `modified_at` is done."""
        if self.since is None or modified_at > self.since:
            return ScanPosition(modified_at, 1)
        return ScanPosition(self.since, self.done_at_since + 1)

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None, "doneAtSince": self.done_at_since}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanPosition:
        since = data.get("since")
        return cls(datetime.fromisoformat(since) if since else None, int(data.get("doneAtSince", 0)))


Row = TypeVar("Row")


@dataclass(frozen=True)
class FreshRows(Generic[Row]):
    """The rows of a list page still to do."""

    rows: list[Row | str]  # in page order; a str is a row too broken to use (its reason), for the caller to log
    repeated: int = 0  # rows dropped: their id shows up again later in the page, or this scan took it already

    @property
    def repeats_note(self) -> str:
        """For an error message: how many rows the page repeated, if any."""
        return f" ({self.repeated} repeated rows already read)" if self.repeated else ""


class PageFilter(Generic[Row]):
    """Picks the rows of each page of one scan that are still to do, and checks the order.

    The first `position.skip` rows at exactly `since` were done before. A row whose id shows up
    again later in the page counts once (its last copy is used), and a row this scan already
    took at `since` is not taken again (a page that repeats), so the position keeps counting
    what Zoho really lists. Rows out of order, or older than `since`, mean the API ignored the
    sort or the filter: continuing could skip data, so that is a protocol error.
    """

    def __init__(self, endpoint: str, key: Callable[[Row], tuple[str, datetime]]) -> None:
        self.endpoint = endpoint
        self._key = key  # a parsed row's (id, last_modified_time)
        self._since: datetime | None = None
        self._taken: set[str] = set()  # ids this scan took at `_since`, the newest time it took

    def fresh(self, position: ScanPosition, parsed: Sequence[Row | str]) -> FreshRows[Row]:
        """`parsed` holds each row of the page as parsed, or the reason it cannot be used."""
        keys = [None if isinstance(row, str) else self._key(row) for row in parsed]
        previous = position.since
        for key in keys:
            if key is None:
                continue
            if previous is not None and key[1] < previous:
                raise ZohoProtocolError(
                    self.endpoint, "rows are not sorted by last_modified_time (or ignore the filter)"
                )
            previous = key[1]
        last = {key[0]: index for index, key in enumerate(keys) if key is not None}
        rows: list[Row | str] = []
        repeated = 0
        to_skip = position.skip
        for index, (row, key) in enumerate(zip(parsed, keys, strict=True)):
            if key is None:
                rows.append(row)
                continue
            row_id, modified = key
            if last[row_id] != index:
                repeated += 1
            elif to_skip and modified == position.since:
                to_skip -= 1
            elif modified == self._since and row_id in self._taken:
                repeated += 1
            else:
                to_skip = 0  # fewer ties than before: never skip a row newer than `since`
                rows.append(row)
                if modified != self._since:
                    self._since, self._taken = modified, set()
                self._taken.add(row_id)
        return FreshRows(rows, repeated)


@dataclass
class Checkpoint:
    """Where a sync run stands between invocations (stored in `sync_metadata.<step>_checkpoint`).

    Phases run in order; each step names its own (customers: scan → repair → reconcile → verify;
    invoices: skips → scan → reconcile → verify).
    """

    position: ScanPosition
    full_resync: bool
    started_at: datetime
    reconcile: bool
    phase: Phase
    reconcile_page: int = 1
    reconcile_started_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "position": self.position.to_json(),
            "fullResync": self.full_resync,
            "startedAt": self.started_at.isoformat(),
            "reconcile": self.reconcile,
            "reconcilePage": self.reconcile_page,
            "reconcileStartedAt": self.reconcile_started_at.isoformat() if self.reconcile_started_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        reconcile_started = data.get("reconcileStartedAt")
        return cls(
            position=ScanPosition.from_json(data.get("position") or {}),
            full_resync=bool(data.get("fullResync")),
            started_at=datetime.fromisoformat(data["startedAt"]),
            reconcile=bool(data.get("reconcile")),
            phase=_phase(data["phase"]),
            reconcile_page=int(data.get("reconcilePage", 1)),
            reconcile_started_at=datetime.fromisoformat(reconcile_started) if reconcile_started else None,
        )


def _phase(value: Any) -> Phase:
    if value not in get_args(Phase):
        raise ValueError(f"not a phase: {value!r}")
    return cast(Phase, value)


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

    A new scan starts `overlap_seconds` before the cursor, or `window_days` back on a first sync
    or a full resync, on a whole second (Zoho's filter has no fractions). Returns (checkpoint, resumed).
    """
    if saved and (not full_resync or saved.get("fullResync")):
        return Checkpoint.from_json(saved), True
    if full_resync or cursor is None:
        since = now - timedelta(days=window_days)
    else:
        since = cursor - timedelta(seconds=overlap_seconds)
    position = ScanPosition(since.replace(microsecond=0))
    return Checkpoint(position, full_resync, now, reconcile or full_resync, first_phase), False
