"""What every function shares to be observed: its entry point's logging and tracing, step metrics.

Log lines and metrics carry counts and ids, never tokens, full phone numbers or emails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

METRICS_NAMESPACE = "ZohoBooksSync"
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
# What the decorated handler accepts as its context: any object with LambdaContext's attributes
# (the `zoho-sync` command and the tests pass their own).
EntryPoint = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_entry(logger: Logger) -> Callable[[LambdaHandler], EntryPoint]:
    """Decorates a function's handler: the invocation's context in every log line (cleared between
    invocations, so one tenant's keys never reach the next), and an X-Ray segment."""
    tracer = Tracer(service=logger.service)

    def decorate(handler: LambdaHandler) -> EntryPoint:
        traced: LambdaHandler = tracer.capture_lambda_handler(handler)
        logged: EntryPoint = logger.inject_lambda_context(clear_state=True)(traced)
        return logged

    return decorate


def emit_step_metrics(step: str, counts: Mapping[str, int | float]) -> None:
    """One EMF document per step run, dimensioned by step only (isolated per call, thread-safe).

    Never by tenant: each dimension value is a custom metric of its own (20 metrics x 100 tenants
    is about $600 a month); the tenant is in the step's logs and in `step_runs`.
    """
    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=step)
    metrics.add_dimension(name="step", value=step)
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=float(value))
    metrics.flush_metrics()


# What a running step tells a watcher (the `zoho-sync` command's progress display); nobody listens in Lambda.
ProgressListener = Callable[[str, str, Mapping[str, int]], None]  # (step, what happened, counts)
_listeners: list[ProgressListener] = []


def listen_to_progress(listener: ProgressListener | None) -> None:
    """Set (or with None, remove) the one progress listener of this process."""
    _listeners[:] = [listener] if listener is not None else []


def progress_watched() -> bool:
    """Whether anyone listens: a count only the display needs is not worth a query in Lambda."""
    return bool(_listeners)


def report_progress(step: str, what: str, **counts: int) -> None:
    for listener in _listeners:
        listener(step, what, counts)
