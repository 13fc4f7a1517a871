"""Which tenants an execution syncs (every active one, or the ones asked for by id), and by which path.

Quiet tenants (a first sync done, no pass in progress, not failing) go to the QuietTenants Map: in
batches, all three steps of each in one invocation, as EXPRESS children. The others go to the
HeavyTenants Map: one STANDARD child per tenant, with the state machine's retries and hasMore loops.
The ids go to S3 (`books_sync.work_list`), never into the state machine's payloads (256 KB); every
report list is cut at `REPORTED`, with its count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from books_sync.db import Database
from books_sync.events import ListTenantsEvent
from books_sync.settings import Settings
from books_sync.storage import failures, leases, step_runs, sync_state, tenants, webhooks

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
class Pace:
    """How the Maps run: the standard path's concurrency and rounds, the quiet path's batches."""

    max_concurrency: int
    max_rounds: int
    quiet_concurrency: int = 20
    quiet_batch_size: int = 25

    @classmethod
    def of(cls, settings: Settings) -> Pace:
        return cls(
            settings.map_max_concurrency,
            settings.max_step_rounds,
            settings.quiet_map_concurrency,
            settings.quiet_batch_size,
        )


@dataclass(frozen=True)
class TenantSelection:
    user_ids: list[str]
    full_resync: bool
    pace: Pace
    heavy: frozenset[str] = frozenset()  # among user_ids: the standard path
    unknown_user_ids: list[str] = field(default_factory=list)
    not_synced: list[NotSynced] = field(default_factory=list)
    in_flight: list[InFlight] = field(default_factory=list)
    backing_off: list[BackingOff] = field(default_factory=list)
    resting_on_webhooks: list[str] = field(default_factory=list)  # quiet, kept current by webhooks: next time
    overlapping: str | None = None  # the live all-tenant execution this scheduled start leaves the work to

    @property
    def needs_reauth(self) -> list[str]:
        return [n.user_id for n in self.not_synced if n.status == "needs_reauth"]

    @property
    def quiet_ids(self) -> list[str]:
        return [user_id for user_id in self.user_ids if user_id not in self.heavy]

    @property
    def heavy_ids(self) -> list[str]:
        return [user_id for user_id in self.user_ids if user_id in self.heavy]

    def to_output(self) -> dict[str, Any]:
        """Everything but the ids to sync (the work lists hold them; the caller adds `workLists`)."""
        return {
            "fullResync": self.full_resync,
            "maxConcurrency": self.pace.max_concurrency,
            "maxRounds": self.pace.max_rounds,
            "quietConcurrency": self.pace.quiet_concurrency,
            "quietBatchSize": self.pace.quiet_batch_size,
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
            "restingOnWebhooks": self.resting_on_webhooks[:REPORTED],
            "overlapping": self.overlapping,
            "counts": {
                "tenants": len(self.user_ids),
                "quiet": len(self.user_ids) - len(self.heavy),
                "heavy": len(self.heavy),
                "unknown": len(self.unknown_user_ids),
                "needsReauth": len(self.needs_reauth),
                "notSynced": len(self.not_synced),
                "inFlight": len(self.in_flight),
                "backingOff": len(self.backing_off),
                "restingOnWebhooks": len(self.resting_on_webhooks),
            },
        }


FLEET_LEASE_SECONDS = 1800  # ListTenants to the first steps; each step renews it (entry.FLEET_LEASE_GAP_SECONDS)


def select_tenants(db: Database, request: ListTenantsEvent, pace: Pace) -> TenantSelection:
    """Every active tenant (`{}`: the schedule's input), unless another all-tenant execution is still working:
    then this one ends at once, reported (`overlapping`), never stacked on the other."""
    if request.user_ids is None and request.execution_id is not None:
        holder = leases.take_fleet(db, request.execution_id, FLEET_LEASE_SECONDS)
        if holder is not None:
            return TenantSelection([], request.full_resync, pace, overlapping=holder)
    return _select(db, request, pace)


def _select(db: Database, request: ListTenantsEvent, pace: Pace) -> TenantSelection:
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
    selected = [user_id for user_id in active if user_id not in held and user_id not in resting]
    heavy = set(selected) if request.full_resync else sync_state.needing_the_standard_path(db, selected)
    quiet = [user_id for user_id in selected if user_id not in heavy]
    on_webhooks = [] if request.user_ids is not None or request.full_resync else webhooks.resting(db, quiet)
    return TenantSelection(
        user_ids=[user_id for user_id in selected if user_id not in on_webhooks],
        resting_on_webhooks=on_webhooks,
        full_resync=request.full_resync,
        pace=pace,
        heavy=frozenset(heavy),
        unknown_user_ids=unknown,
        not_synced=not_synced,
        in_flight=[InFlight(user_id, lease.holder, lease.step) for user_id, lease in sorted(held.items())],
        backing_off=[
            BackingOff(user_id, failing.failed_runs, failing.retry_after.isoformat() if failing.retry_after else "")
            for user_id, failing in sorted(resting.items())
            if user_id not in held
        ],
    )


def rest_of_execution(db: Database, execution_id: str, quiet: list[str], heavy: list[str]) -> list[str]:
    """What the HeavyTenants Map runs: the heavy tenants, and every quiet one its batch did not see through
    (a step with more to do, a failure to retry with the standard path's retries, a batch out of time),
    unless it no longer is active (its owner must reconnect, or it was disabled meanwhile)."""
    done: dict[str, set[str]] = {}
    for run in step_runs.of_execution(db, execution_id):
        if run.status not in ("failed", "running") and not run.has_more:
            done.setdefault(run.user_id, set()).add(run.step)
    active = {tenant.user_id for tenant in tenants.list_all(db) if tenant.status == "active"}
    every_step = {"customer-sync", "invoice-sync", "reminders"}
    return heavy + [user_id for user_id in quiet if user_id in active and done.get(user_id, set()) != every_step]
