"""ListTenants: the first state of every execution.

It never migrates (a long data migration must not run, be killed and retried inside an hourly
sync): it refuses a schema older than the code, and the migrate function or `zoho-sync migrate`
brings it up to date.
"""

from __future__ import annotations

import uuid
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync import work_list
from books_sync.db import get_database
from books_sync.events import parse_list_tenants_event
from books_sync.migrator import require_current
from books_sync.observability import lambda_entry
from books_sync.settings import get_settings
from tenants.engine import Pace, select_tenants

logger = Logger(service="tenants")


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_list_tenants_event(event)
    db = get_database()
    require_current(db)
    settings = get_settings()
    selection = select_tenants(db, request, Pace.of(settings))
    execution = request.execution_id or f"invocation-{uuid.uuid4().hex}"
    output = selection.to_output()
    output["workLists"] = {
        "quiet": work_list.write(settings.work_list_bucket, execution, "quiet", selection.quiet_ids).to_output(),
        "heavy": work_list.write(settings.work_list_bucket, execution, "heavy", selection.heavy_ids).to_output(),
    }
    if selection.overlapping:
        logger.warning("another execution is still syncing every tenant: this one ends at once",
                       extra={"heldBy": selection.overlapping})  # fmt: skip
    logger.info("tenants selected", extra={"counts": output["counts"], "fullResync": selection.full_resync})
    return output
