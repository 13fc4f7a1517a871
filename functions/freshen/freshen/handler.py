"""Freshen: `{}` (its schedule, every few minutes) or `{"userIds": ["u1"]}` → what it confirmed.

Confirms against Zoho the tenants whose reminders are about to be wanted and would otherwise be handed
out on data older than their freshness; ends, with their reason, the reminders that waited past their
grace unconfirmed (see `books_sync.steps.freshen`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.db import get_database
from books_sync.events import parse_freshen_event
from books_sync.migrator import require_current
from books_sync.observability import emit_step_metrics, lambda_entry
from books_sync.settings import get_settings
from books_sync.steps.freshen import freshen
from books_sync.sync.time_budget import TimeBudget

logger = Logger(service="freshen")


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_freshen_event(event)
    settings = get_settings()
    db = get_database()
    require_current(db)
    budget = TimeBudget(context, settings.time_safety_margin_seconds)
    user_ids = list(request.user_ids) if request.user_ids is not None else None
    summary = freshen(db, settings, budget, user_ids=user_ids)
    emit_step_metrics("freshen", summary.metrics())
    return summary.to_output()
