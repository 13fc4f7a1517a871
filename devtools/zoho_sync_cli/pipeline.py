"""The three steps in process, in the state machine's order, without Step Functions (`zoho-sync run`).

Each step is called through its real Lambda handler with a Lambda-like context, and a sync step
that answers `hasMore` is called again, exactly as the state machine's Choice loop does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from customer_sync.handler import lambda_handler as customer_sync_handler
from invoice_sync.handler import lambda_handler as invoice_sync_handler
from reminders.handler import lambda_handler as reminders_handler
from zoho_sync_cli.lambda_context import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
STEPS: tuple[tuple[str, Handler], ...] = (
    ("customer-sync", customer_sync_handler),
    ("invoice-sync", invoice_sync_handler),
    ("reminders", reminders_handler),
)
MAX_CALLS_PER_STEP = 10_000


@dataclass
class TenantRun:
    user_id: str
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # step → last summary
    calls: dict[str, int] = field(default_factory=dict)  # step → invocations (hasMore loops)
    api_calls: int = 0
    error: str | None = None
    error_type: str | None = None  # the exception's class name, as the state machine sees it

    @property
    def status(self) -> str:
        if self.error:
            return "failed"
        statuses = {summary.get("status", "ok") for summary in self.steps.values()}
        return next((s for s in ("deferred", "skipped") if s in statuses), "ok")


def run_tenant(
    user_id: str,
    *,
    full_resync: bool = False,
    timeout_seconds: float = 900.0,
    progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> TenantRun:
    """Run customer sync → invoice sync → reminders for one tenant; a failed step stops the tenant."""
    result = TenantRun(user_id)
    for step, handler in STEPS:
        event: dict[str, Any] = {"userId": user_id, "fullResync": full_resync}
        try:
            while True:
                summary = dict(handler(event, LocalLambdaContext(step, timeout_seconds=timeout_seconds)))
                result.calls[step] = result.calls.get(step, 0) + 1
                result.api_calls += int(summary.get("apiCalls", 0))
                result.steps[step] = _accumulate(result.steps.get(step), summary)
                if progress is not None:
                    progress(step, summary)
                if not summary.get("hasMore"):
                    break
                if result.calls[step] >= MAX_CALLS_PER_STEP:
                    raise RuntimeError(f"{step}: still hasMore after {MAX_CALLS_PER_STEP} calls")
        except Exception as exc:  # noqa: BLE001 - reported per tenant, like the state machine's Catch
            result.error = f"{step}: {type(exc).__name__}: {exc}"
            result.error_type = type(exc).__name__
            break
    return result


def _accumulate(previous: dict[str, Any] | None, summary: dict[str, Any]) -> dict[str, Any]:
    """Counts add up over a hasMore loop; everything else is the last call's."""
    if previous is None:
        return summary
    merged = dict(summary)
    for key, value in summary.items():
        if isinstance(value, int) and not isinstance(value, bool) and isinstance(previous.get(key), int):
            merged[key] = previous[key] + value
    return merged
