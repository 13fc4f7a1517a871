"""ListTenants: the first state of every execution.

It never migrates (a long data migration must not run, be killed and retried inside an hourly
sync): it refuses a schema older than the code, and the migrate function or `zoho-sync migrate`
brings it up to date.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.db import get_database
from books_sync.events import parse_list_tenants_event
from books_sync.migrator import require_current
from books_sync.observability import lambda_entry
from books_sync.settings import get_settings
from tenants.engine import select_tenants

logger = Logger(service="tenants")


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_list_tenants_event(event)
    db = get_database()
    require_current(db)
    settings = get_settings()
    selection = select_tenants(db, request, settings.map_max_concurrency, settings.max_step_rounds)
    output = selection.to_output()
    if selection.overlapping:
        logger.warning("another execution is still syncing every tenant: this one ends at once",
                       extra={"heldBy": selection.overlapping})  # fmt: skip
    logger.info("tenants selected", extra={"counts": output["counts"], "fullResync": selection.full_resync})
    return output
