"""What a step reports: typed fields, from which its output and its metrics are derived.

A step's summary is a dataclass; each count is a field. `to_output()` is the camelCase of every
field (what the state machine and `zoho-sync run` read), and a field declared with
`count("MetricName")` is also emitted as that CloudWatch metric, so a new counter is one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

StepStatus = Literal["ok", "skipped", "deferred"]
# ok: done (or paused with hasMore); skipped: another run of the step for the tenant held the lock;
# deferred: the organization's daily Zoho budget is spent, or Zoho is unavailable for the whole data
# center (`deferredReason` says which); the next run resumes from the checkpoint.

Phase = Literal["skips", "scan", "details", "reconcile", "verify", "confirm", "done"]


def count(metric: str | None = None) -> Any:
    """A counter field starting at 0; with `metric`, also emitted as that metric."""
    return field(default=0, metadata={"metric": metric} if metric else {})


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


@dataclass
class StepSummary:
    user_id: str
    status: StepStatus = "ok"
    api_calls: int = count()
    has_more: bool = False

    def to_output(self) -> dict[str, Any]:
        """The step's JSON result: every field, camelCase (dicts copied)."""
        return {camel(f.name): _plain(getattr(self, f.name)) for f in fields(self)}

    def metrics(self) -> dict[str, int]:
        return {f.metadata["metric"]: getattr(self, f.name) for f in fields(self) if "metric" in f.metadata}


@dataclass
class SyncSummary(StepSummary):
    """What both sync steps report beyond a step's basics."""

    api_calls: int = count("ZohoApiCalls")
    phase: Phase = "scan"
    skipped_invalid: int = count()  # rows too broken to use, logged with their reason
    deferred_reason: str | None = None  # why a deferred step waits: the day's calls, or Zoho unavailable


def _plain(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value
