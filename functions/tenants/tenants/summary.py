"""What an execution did, per tenant, read back from `step_runs` (the Summarize state).

The Maps run the tenants as child executions and keep no per-tenant results in the parent (the
Maps' ResultPath is null): payloads are limited to 256 KB, histories to 25,000 events. Which tenants
the execution selected is in its work lists (S3); every step records its run with the execution's
id, so the summary is one query whatever the number of tenants, and its lists are cut at
`REPORTED` ids with their counts beside them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from math import ceil
from typing import Any, Literal

from books_sync.db import Database
from books_sync.storage import failures, step_runs, tenants
from books_sync.storage.step_runs import ExecutionStep

Outcome = Literal["ok", "continues", "deferred", "skipped", "failed", "needs_reauth"]
STEPS = ("customer-sync", "invoice-sync", "reminders")
REPORTED = 100


def outcome(steps: list[ExecutionStep], connection_status: str | None) -> Outcome:
    """A tenant's result from its steps' runs in this execution.

    A step that failed, or started and never finished (a Lambda timeout), fails the tenant, unless
    its connection now needs re-authorization: that is reported, not failed. No run at all, or fewer
    than the three steps, means another run had the tenant (its lease) or has since taken over its rows. A sync step
    still answering hasMore after its rounds in this execution continues in the next one.
    """
    statuses = {step.status for step in steps}
    broken = bool(statuses & {"failed", "running"})
    if connection_status == "needs_reauth" and (broken or not steps):
        return "needs_reauth"
    if broken:
        return "failed"
    if "deferred" in statuses:
        return "deferred"
    if {step.step for step in steps} < set(STEPS):
        return "skipped"
    return "continues" if any(step.has_more for step in steps) else "ok"


@dataclass
class ExecutionSummary:
    execution_id: str
    by_outcome: dict[Outcome, list[str]] = field(default_factory=lambda: defaultdict(list))
    failures: list[dict[str, str]] = field(default_factory=list)
    api_calls: int = 0
    started_failing: list[str] = field(default_factory=list)  # tenants whose first failure in a row this is
    failing_over_a_day: int = 0  # fleet-wide, whatever this execution ran
    waiting_reauth: int = 0  # fleet-wide: tenants whose owner must connect Zoho again
    systemic: bool = False  # so many tenants failed that the fault is likely ours or Zoho's, not theirs

    def settle(self, db: Database, tried: int, systemic_share: float) -> None:
        """Each failed tenant's run of failures grows (and its next try moves away), each synced one's ends;
        the execution fails only when at least `systemic_share` of the tenants it tried failed."""
        failed = [(f["userId"], f"{f['step']}: {f['error']}") for f in self.failures]
        streaks = failures.record_failed(db, failed)
        self.started_failing = [streak.user_id for streak in streaks if streak.failed_runs == 1]
        for failure in self.failures:
            streak = next((s for s in streaks if s.user_id == failure["userId"]), None)
            failure["failedRuns"] = str(streak.failed_runs if streak else 1)
            failure["retryAfter"] = streak.retry_after.isoformat() if streak and streak.retry_after else "next run"
        went_through = self.by_outcome["ok"] + self.by_outcome["continues"] + self.by_outcome["deferred"]
        failures.record_succeeded(db, went_through)
        self.failing_over_a_day, self.waiting_reauth = failures.fleet_counts(db)
        self.systemic = bool(self.failures) and len(self.failures) >= max(1, ceil(systemic_share * tried))

    def to_output(self, selection: dict[str, Any]) -> dict[str, Any]:
        """Each outcome's ids (at most `REPORTED`) and counts; the selection's reports carried over."""
        needs_reauth = list(selection.get("needsReauth", [])) + self.by_outcome["needs_reauth"]
        listed: dict[Outcome, str] = {
            "ok": "synced",
            "continues": "continuing",
            "deferred": "deferred",
            "skipped": "skipped",
        }
        selected = dict(selection.get("counts", {}))
        counts = {key: len(self.by_outcome[outcome]) for outcome, key in listed.items()}
        return {
            "executionId": self.execution_id,
            "tenants": sum(len(ids) for ids in self.by_outcome.values()),
            **{key: self.by_outcome[outcome][:REPORTED] for outcome, key in listed.items()},
            "failed": self.failures[:REPORTED],
            "needsReauth": needs_reauth[:REPORTED],
            "unknownUserIds": list(selection.get("unknownUserIds", []))[:REPORTED],
            "notSynced": list(selection.get("notSynced", []))[:REPORTED],
            "inFlight": list(selection.get("inFlight", []))[:REPORTED],
            "overlapping": selection.get("overlapping"),
            "counts": {
                **counts,
                "failed": len(self.failures),
                "startedFailing": len(self.started_failing),
                "backingOff": selected.get("backingOff", 0),
                "needsReauth": selected.get("needsReauth", 0) + len(self.by_outcome["needs_reauth"]),
                "unknown": selected.get("unknown", 0),
                "notSynced": selected.get("notSynced", 0),
                "inFlight": selected.get("inFlight", 0),
                "restingOnWebhooks": selected.get("restingOnWebhooks", 0),
            },
            "apiCalls": self.api_calls,
            "startedFailing": self.started_failing[:REPORTED],
            "backingOff": list(selection.get("backingOff", []))[:REPORTED],
            "restingOnWebhooks": list(selection.get("restingOnWebhooks", []))[:REPORTED],
            "anyFailed": bool(self.failures),
            "systemicFailure": self.systemic,
            "anyUnknown": bool(selected.get("unknown", 0)),
        }

    def metrics(self) -> dict[str, int]:
        return {
            "TenantsSynced": len(self.by_outcome["ok"]) + len(self.by_outcome["continues"]),
            "TenantsDeferred": len(self.by_outcome["deferred"]),
            "TenantsSkipped": len(self.by_outcome["skipped"]),
            "TenantsFailed": len(self.failures),
            "TenantsStartedFailing": len(self.started_failing),
            "TenantsFailingOverADay": self.failing_over_a_day,
            "TenantsNeedingReauth": len(self.by_outcome["needs_reauth"]),
            "TenantsWaitingReauth": self.waiting_reauth,
            "SystemicFailure": int(self.systemic),
        }


def summarize(db: Database, execution_id: str, selected: list[str]) -> ExecutionSummary:
    """Each selected tenant's outcome in this execution, from `step_runs`."""
    runs: dict[str, list[ExecutionStep]] = defaultdict(list)
    for run in step_runs.of_execution(db, execution_id):
        runs[run.user_id].append(run)
    status = {tenant.user_id: tenant.status for tenant in tenants.list_all(db)}
    summary = ExecutionSummary(execution_id)
    for user_id in selected:
        steps = runs.get(user_id, [])
        result = outcome(steps, status.get(user_id))
        summary.api_calls += sum(step.api_calls for step in steps)
        if result == "failed":
            summary.failures.append(_failure(user_id, steps))
        summary.by_outcome[result].append(user_id)
    return summary


def _failure(user_id: str, steps: list[ExecutionStep]) -> dict[str, str]:
    """Which step failed and the error's type (its message is in step_runs and the logs)."""
    failed = next((step for step in steps if step.status in ("failed", "running")), None)
    if failed is None:
        return {"userId": user_id, "step": "?", "error": "unknown"}
    error = (failed.error or "did not finish (Lambda timeout or crash)").split(":", 1)[0][:100]
    return {"userId": user_id, "step": failed.step, "error": error}
