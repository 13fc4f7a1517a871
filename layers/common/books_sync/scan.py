"""Resumable, lossless scanning of a Zoho list sorted by `last_modified_time` (oldest first).

The position is keyset-based: (since, how many rows at exactly `since` are already done). Each
request asks for `last_modified_time >= since` and skips the rows already done, so records that
change during a long scan (and move to the end of the list) never shift unseen rows into pages
already read, which plain page numbers would do. Ties wider than a page are walked page by page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from books_sync.zoho_client import PER_PAGE
from books_sync.zoho_errors import ZohoProtocolError


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


@dataclass(frozen=True)
class FreshRows:
    """Which rows of a list page are still to do."""

    indexes: list[int]  # in page order; rows too broken to have an id stay in, for the caller to log
    repeated: int = 0  # rows dropped: their id shows up again later in the page, or this scan took it already


def repeats(fresh: FreshRows) -> str:
    """For an error message: how many rows the page repeated, if any."""
    return f" ({fresh.repeated} repeated rows already read)" if fresh.repeated else ""


class PageFilter:
    """Picks the rows of each page of one scan that are still to do, and checks the order.

    The first `position.skip` rows at exactly `since` were done before. A row whose id shows up
    again later in the page counts once (its last copy is used), and a row this scan already
    took at `since` is not taken again (a page that repeats), so the position keeps counting
    what Zoho really lists. Rows out of order, or older than `since`, mean the API ignored the
    sort or the filter: continuing could skip data, so that is a protocol error.
    """

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._since: datetime | None = None
        self._taken: set[str] = set()  # ids this scan took at `_since`, the newest time it took

    def fresh(
        self, position: ScanPosition, ids: Sequence[str | None], modified: Sequence[datetime | None]
    ) -> FreshRows:
        """`ids` and `modified` hold each row's id and last_modified_time (None for a row too broken to have one)."""
        previous = position.since
        for value in modified:
            if value is None:
                continue
            if previous is not None and value < previous:
                raise ZohoProtocolError(
                    self.endpoint, "rows are not sorted by last_modified_time (or ignore the filter)"
                )
            previous = value
        last = {row_id: index for index, row_id in enumerate(ids) if row_id is not None}
        indexes: list[int] = []
        repeated = 0
        to_skip = position.skip
        for index, (row_id, value) in enumerate(zip(ids, modified, strict=True)):
            if row_id is None or value is None:
                indexes.append(index)
            elif last[row_id] != index:
                repeated += 1
            elif to_skip and value == position.since:
                to_skip -= 1
            elif value == self._since and row_id in self._taken:
                repeated += 1
            else:
                to_skip = 0  # fewer ties than before: never skip a row newer than `since`
                indexes.append(index)
                if value != self._since:
                    self._since, self._taken = value, set()
                self._taken.add(row_id)
        return FreshRows(indexes, repeated)


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
    phase: str
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
            phase=str(data["phase"]),
            reconcile_page=int(data.get("reconcilePage", 1)),
            reconcile_started_at=datetime.fromisoformat(reconcile_started) if reconcile_started else None,
        )


def start_or_resume(
    saved: dict[str, Any] | None,
    *,
    cursor: datetime | None,
    window_days: int,
    overlap_seconds: float,
    full_resync: bool,
    reconcile: bool,
    first_phase: str,
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
