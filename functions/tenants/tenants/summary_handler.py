"""Summarize: the last state of every execution; says per tenant what happened and emits the totals."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync import work_list
from books_sync.db import get_database
from books_sync.events import parse_execution_event
from books_sync.observability import emit_step_metrics, lambda_entry
from books_sync.settings import get_settings
from books_sync.storage import leases
from tenants.summary import summarize

logger = Logger(service="summarize")


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_execution_event(event)
    logger.append_keys(executionId=request.execution_id)
    db = get_database()
    selected = work_list.read(request.quiet.bucket, request.quiet.key) + work_list.read(
        request.heavy.bucket, request.heavy.key
    )
    summary = summarize(db, request.execution_id, selected)
    summary.settle(db, len(selected), get_settings().systemic_failure_share)
    leases.give_back_all(db, request.execution_id)  # every child has ended: a failed tenant's lease too
    leases.give_back_fleet(db, request.execution_id)  # the next scheduled start may work
    output = summary.to_output(dict(request.selection))
    emit_step_metrics("execution", summary.metrics())
    for failure in summary.failures:  # one line per failed tenant: what the saved query "tenants failed" reads
        logger.warning("tenant failed", extra=failure)
    logger.info("execution summarized", extra={"counts": output["counts"], "synced": output["synced"]})
    return output
