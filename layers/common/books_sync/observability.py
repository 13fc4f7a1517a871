"""Metrics shared by the steps.

Log lines and metrics carry counts and ids, never tokens, full phone numbers or emails.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

METRICS_NAMESPACE = "ZohoBooksSync"


def emit_step_metrics(step: str, user_id: str, counts: Mapping[str, int | float]) -> None:
    """One EMF document per step run, dimensioned by step and tenant (isolated per call, thread-safe)."""
    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=step)
    metrics.add_dimension(name="step", value=step)
    metrics.add_dimension(name="tenant", value=user_id)
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=float(value))
    metrics.flush_metrics()
