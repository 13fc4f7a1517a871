"""RestTenants: between the two Maps, the work list of the HeavyTenants Map (the heavy tenants, and the
quiet ones their batch did not see through), written to S3 like ListTenants' own lists."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync import work_list
from books_sync.db import get_database
from books_sync.events import parse_execution_event
from books_sync.observability import lambda_entry
from books_sync.settings import get_settings
from tenants.engine import rest_of_execution

logger = Logger(service="rest-tenants")


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_execution_event(event)
    logger.append_keys(executionId=request.execution_id)
    quiet = work_list.read(request.quiet.bucket, request.quiet.key)
    heavy = work_list.read(request.heavy.bucket, request.heavy.key)
    rest = rest_of_execution(get_database(), request.execution_id, quiet, heavy)
    written = work_list.write(get_settings().work_list_bucket, request.execution_id, "rest", rest)
    logger.info("the standard path's tenants", extra={"heavy": len(heavy), "fromQuiet": len(rest) - len(heavy)})
    return {**written.to_output(), "fromQuiet": len(rest) - len(heavy)}
