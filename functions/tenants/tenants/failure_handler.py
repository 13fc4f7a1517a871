"""RecordFailure: a tenant's child execution caught a step's error; make sure step_runs says so.

A step records its own failure; this covers what it could not record (an error before its start was
written, a Lambda timeout or crash), so Summarize reports the tenant failed, not skipped. A tenant
that is no longer active (disabled, removed since ListTenants) is left as skipped.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.db import get_database
from books_sync.events import parse_caught_failure_event
from books_sync.observability import lambda_entry
from books_sync.storage import step_runs
from tenants.summary import STEPS

logger = Logger(service="record-failure")
NOT_A_FAILURE = ("TenantNotActive", "UnknownTenant")  # the tenant left the fleet since ListTenants


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_caught_failure_event(event)
    logger.append_keys(userId=request.user_id, executionId=request.execution_id)
    if request.error.split(":", 1)[0] in NOT_A_FAILURE:
        return {"recorded": None}
    step = step_runs.record_caught(get_database(), request.user_id, request.execution_id, STEPS, request.error)
    if step:
        logger.warning("a failure the step could not record", extra={"step": step, "error": request.error[:100]})
    return {"recorded": step}
