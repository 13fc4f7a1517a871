"""Resumable, lossless scanning of a Zoho list sorted by `last_modified_time` (oldest first).

The position is keyset-based: (since, how many rows at exactly `since` are already done). Each
request asks for `last_modified_time >= since` and skips the rows already done, so records that
change during a long scan (and move to the end of the list) never shift unseen rows into pages
already read, which plain page numbers would do. Ties wider than a page are walked page by page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
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


def unseen(endpoint: str, position: ScanPosition, modified: Sequence[datetime | None]) -> int:
    """How many leading rows of the page at `position` were done before; checks the sort order.

    `modified` holds each row's last_modified_time (None for rows too broken to have one). Rows
    out of order, or older than `since`, mean the API ignored the sort or the filter: continuing
    could skip data, so that is a protocol error.
    """
    previous = position.since
    for value in modified:
        if value is None:
            continue
        if previous is not None and value < previous:
            raise ZohoProtocolError(endpoint, "rows are not sorted by last_modified_time (or ignore the filter)")
        previous = value
    index = 0
    done = 0
    while index < len(modified) and done < position.skip:
        value = modified[index]
        if value is not None:
            if value != position.since:
                break  # fewer ties than before: never skip a row newer than `since`
            done += 1
        index += 1
    return index
