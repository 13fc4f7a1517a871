"""Which tenants an execution syncs: every active one, or the ones asked for by id.

The selection travels through the state machine, whose payloads are limited to 256 KB: tenants
are plain ids (about 20 bytes each) and every report list is cut at `REPORTED`, with its count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from books_sync.db import Database
from books_sync.events import ListTenantsEvent
from books_sync.storage import failures, leases, tenants

REPORTED = 100  # ids listed per report; the counts say how many there are


@dataclass(frozen=True)
class NotSynced:
    user_id: str
    status: str
    reason: str | None


@dataclass(frozen=True)
class InFlight:
    """A tenant another execution (or `zoho-sync run`) still works on: this execution leaves it alone."""

    user_id: str
    held_by: str
    step: str


@dataclass(frozen=True)
class BackingOff:
    """A tenant whose last runs failed, left out until its next try (an execution naming it runs it)."""

    user_id: str
    failed_runs: int
    retry_after: str


@dataclass(frozen=True)
class TenantSelection:
    user_ids: list[str]
    full_resync: bool
    max_concurrency: int
    max_rounds: int
    unknown_user_ids: list[str] = field(default_factory=list)
    not_synced: list[NotSynced] = field(default_factory=list)
    in_flight: list[InFlight] = field(default_factory=list)
    backing_off: list[BackingOff] = field(default_factory=list)
    overlapping: str | None = None  # the live all-tenant execution this scheduled start leaves the work to

    @property
    def needs_reauth(self) -> list[str]:
        return [n.user_id for n in self.not_synced if n.status == "needs_reauth"]

    def to_output(self) -> dict[str, Any]:
        return {
            "tenants": self.user_ids,
            "fullResync": self.full_resync,
            "maxConcurrency": self.max_concurrency,
            "maxRounds": self.max_rounds,
            "unknownUserIds": self.unknown_user_ids[:REPORTED],
            "needsReauth": self.needs_reauth[:REPORTED],
            "notSynced": [
                {"userId": n.user_id, "status": n.status, "reason": (n.reason or "")[:200] or None}
                for n in self.not_synced[:REPORTED]
            ],
            "inFlight": [{"userId": f.user_id, "heldBy": f.held_by, "step": f.step} for f in self.in_flight[:REPORTED]],
            "backingOff": [
                {"userId": b.user_id, "failedRuns": b.failed_runs, "retryAfter": b.retry_after}
                for b in self.backing_off[:REPORTED]
            ],
            "overlapping": self.overlapping,
            "counts": {
                "tenants": len(self.user_ids),
                "unknown": len(self.unknown_user_ids),
                "needsReauth": len(self.needs_reauth),
                "notSynced": len(self.not_synced),
                "inFlight": len(self.in_flight),
                "backingOff": len(self.backing_off),
            },
        }


FLEET_LEASE_SECONDS = 1800  # ListTenants to the first steps; each step renews it (entry.FLEET_LEASE_GAP_SECONDS)


def select_tenants(db: Database, request: ListTenantsEvent, max_concurrency: int, max_rounds: int) -> TenantSelection:
    """Every active tenant (`{}`: the schedule's input), unless another all-tenant execution is still working:
    then this one ends at once, reported (`overlapping`), never stacked on the other."""
    if request.user_ids is None and request.execution_id is not None:
        holder = leases.take_fleet(db, request.execution_id, FLEET_LEASE_SECONDS)
        if holder is not None:
            return TenantSelection([], request.full_resync, max_concurrency, max_rounds, overlapping=holder)
    return _select(db, request, max_concurrency, max_rounds)


def _select(db: Database, request: ListTenantsEvent, max_concurrency: int, max_rounds: int) -> TenantSelection:
    """Active tenants are synced; inactive ones, unknown ids and tenants in flight are reported, never dropped."""
    known = {tenant.user_id: tenant for tenant in tenants.list_all(db)}
    wanted = list(request.user_ids) if request.user_ids is not None else sorted(known)
    active: list[str] = []
    unknown: list[str] = []
    not_synced: list[NotSynced] = []
    for user_id in wanted:
        tenant = known.get(user_id)
        if tenant is None:
            unknown.append(user_id)
        elif tenant.status != "active":
            not_synced.append(NotSynced(user_id, tenant.status, tenant.status_reason))
        else:
            active.append(user_id)
    held = leases.in_flight(db, active)
    resting = {} if request.user_ids is not None else failures.waiting(db, active)  # named ones run anyway
    return TenantSelection(
        user_ids=[user_id for user_id in active if user_id not in held and user_id not in resting],
        full_resync=request.full_resync,
        max_concurrency=max_concurrency,
        max_rounds=max_rounds,
        unknown_user_ids=unknown,
        not_synced=not_synced,
        in_flight=[InFlight(user_id, lease.holder, lease.step) for user_id, lease in sorted(held.items())],
        backing_off=[
            BackingOff(user_id, failing.failed_runs, failing.retry_after.isoformat() if failing.retry_after else "")
            for user_id, failing in sorted(resting.items())
            if user_id not in held
        ],
    )
