"""Logging, metrics and tracing conventions shared by the steps, and masking of personal data.

Log lines carry counts and ids, never tokens, full phone numbers or emails: use `mask_phone`
and `mask_email` where a value helps an operator recognise a record.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

METRICS_NAMESPACE = "ZohoBooksSync"


def mask_phone(value: str | None) -> str | None:
    """Keep a leading + and the last two digits: '+91********45'."""
    if not value:
        return value
    digits = [ch for ch in value if ch.isdigit()]
    if len(digits) <= 2:
        return "*" * len(digits)
    prefix = "+" if value.strip().startswith("+") else ""
    return prefix + "*" * (len(digits) - 2) + "".join(digits[-2:])


def mask_email(value: str | None) -> str | None:
    """Keep the first character and the domain: 'a***@example.com'."""
    if not value:
        return value
    local, sep, domain = value.partition("@")
    if not sep:
        return "***"
    return (local[:1] or "") + "***@" + domain


def emit_step_metrics(step: str, user_id: str, counts: Mapping[str, int | float]) -> None:
    """One EMF document per step run, dimensioned by step and tenant (isolated per call, thread-safe)."""
    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=step)
    metrics.add_dimension(name="step", value=step)
    metrics.add_dimension(name="tenant", value=user_id)
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=float(value))
    metrics.flush_metrics()
