"""SQL for `zoho_breakers`: one circuit breaker per Zoho data center, shared by every process (migration 0017).

Zoho being down is one event for every tenant on that data center, not a thousand: once "unavailable"
answers (5xx, timeouts, no connection) came from `BREAKER_ORGANIZATIONS` distinct organizations, with no
good answer from any organization in between, the breaker opens and every call there is deferred at
once (`ZohoDown`: the step ends `deferred`, not failed). After a cool-down one call at a time may go as
a probe: an answer closes the breaker for all; another failure keeps it open for twice as long (at most
`MAX_COOLDOWN`). One organization failing alone never opens it: any good answer clears the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any, Literal

from books_sync.db import Database
from books_sync.errors import ZohoDown
from books_sync.settings import BreakerSettings

MAX_COOLDOWN = timedelta(minutes=15)
PROBE_SECONDS = 120.0  # a probe holds its turn this long at most (its call's worst case)
PROBE_WAIT_SECONDS = 30.0  # a call waits this long at most for another's probe to be answered
PROBE_POLL_SECONDS = 0.5

Admission = Literal["clean", "watch", "probe"]  # clean: nothing failing; watch: some failing; probe: the one call


def admit(db: Database, data_center: str, endpoint: str, *, sleep: Callable[[float], None] = time.sleep) -> Admission:
    """May a call go now? While the breaker is open: the first call after the cool-down is the probe; the
    others wait for its answer (at most `PROBE_WAIT_SECONDS`), so a closing breaker lets every waiting
    tenant go at once; before the cool-down, or when the probe failed, `ZohoDown`."""
    waited = 0.0
    while True:
        state = _state(db, data_center)
        if state is None or not state["open"]:
            return "watch" if state is not None and state["failing"] else "clean"
        if not state["due"] or waited >= PROBE_WAIT_SECONDS:
            raise ZohoDown(endpoint, f"Zoho is not answering organizations of the {data_center} data center; "
                           f"the next try is after {_when(state['retry_at'])}")  # fmt: skip
        if not state["probing"] and _take_probe(db, data_center):
            return "probe"
        sleep(PROBE_POLL_SECONDS)
        waited += PROBE_POLL_SECONDS


def _state(db: Database, data_center: str) -> dict[str, Any] | None:
    return db.one(
        "SELECT opened_at IS NOT NULL AS open, retry_at, retry_at <= now() AS due, "
        "coalesce(probe_until > now(), false) AS probing, failing <> '{}'::jsonb AS failing "
        "FROM zoho_breakers WHERE data_center = :dc",
        dc=data_center,
    )


def _take_probe(db: Database, data_center: str) -> bool:
    """This call is the probe, unless another took the turn first."""
    taken = db.one(
        """
        UPDATE zoho_breakers SET probe_until = now() + make_interval(secs => :probe), updated_at = now()
         WHERE data_center = :dc AND opened_at IS NOT NULL AND retry_at <= now()
           AND (probe_until IS NULL OR probe_until <= now())
        RETURNING 1 AS taken
        """,
        dc=data_center,
        probe=PROBE_SECONDS,
    )
    return taken is not None


_RECORD = """
INSERT INTO zoho_breakers AS b (data_center, failing) VALUES (:dc, jsonb_build_object(CAST(:org AS text), now()))
ON CONFLICT (data_center) DO UPDATE SET
    failing = (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
                 FROM jsonb_each(b.failing) AS e
                WHERE (e.value #>> '{}')::timestamptz > now() - CAST(:window AS interval))
              || jsonb_build_object(CAST(:org AS text), now()),
    updated_at = now()
"""
_OPEN = """
UPDATE zoho_breakers AS b
   SET opened_at = coalesce(b.opened_at, now()),
       retry_at = now() + least(CAST(:cooldown AS interval) * power(2, b.openings), CAST(:longest AS interval)),
       openings = b.openings + 1,
       probe_until = NULL,
       updated_at = now()
 WHERE b.data_center = :dc
   AND ((b.opened_at IS NULL AND (SELECT count(*) FROM jsonb_object_keys(b.failing)) >= :organizations)
        OR (b.opened_at IS NOT NULL AND b.probe_until IS NOT NULL))  -- a probe failed: wait longer
RETURNING b.openings
"""


def failed(db: Database, data_center: str, organization_id: str, settings: BreakerSettings) -> bool:
    """An "unavailable" answer for this organization; True when it opened the breaker (or kept it open)."""
    with nullcontext() if db.in_transaction else db.transaction():
        db.run(_RECORD, dc=data_center, org=organization_id, window=settings.window)
        opened = db.one(
            _OPEN,
            dc=data_center,
            cooldown=settings.cooldown,
            longest=MAX_COOLDOWN,
            organizations=settings.organizations,
        )
    return opened is not None


def answered(db: Database, data_center: str) -> None:
    """A good answer: Zoho works here; everything failing is forgotten and an open breaker closes."""
    db.run(
        "UPDATE zoho_breakers SET failing = '{}'::jsonb, opened_at = NULL, retry_at = NULL, probe_until = NULL, "
        "openings = 0, updated_at = now() "
        "WHERE data_center = :dc AND (failing <> '{}'::jsonb OR opened_at IS NOT NULL)",
        dc=data_center,
    )


def open_now(db: Database) -> dict[str, datetime]:
    """Data centers whose breaker is open, with when the next probe may go (for `zoho-sync status`)."""
    rows = db.run("SELECT data_center, retry_at FROM zoho_breakers WHERE opened_at IS NOT NULL ORDER BY 1")
    return {row[0]: row[1] for row in rows}


def _when(moment: datetime | None) -> str:
    return f"{moment:%H:%M:%S} UTC" if moment else "a while"


class PostgresBreaker:
    """The client's view of its data center's breaker (`zoho.client.Breaker`), for one organization."""

    def __init__(self, db: Database, data_center: str, organization_id: str, settings: BreakerSettings) -> None:
        self.db, self.data_center, self.organization_id, self.settings = db, data_center, organization_id, settings

    def admit(self, endpoint: str) -> Admission:
        return admit(self.db, self.data_center, endpoint)

    def failed(self) -> None:
        failed(self.db, self.data_center, self.organization_id, self.settings)

    def answered(self) -> None:
        answered(self.db, self.data_center)
