"""ListTenants: the first state of every execution."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.db import connect_from_settings, get_database
from books_sync.events import parse_list_tenants_event
from books_sync.migrator import migrate
from books_sync.settings import get_settings
from tenants.engine import select_tenants

logger = Logger(service="tenants")
tracer = Tracer(service="tenants")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_list_tenants_event(event)
    db = get_database()
    settings = get_settings()
    if settings.auto_migrate:
        migrating = connect_from_settings(settings, purpose="migrate")  # no statement timeout
        try:
            applied = migrate(migrating)
        finally:
            migrating.close()
        if applied:
            logger.info("migrations applied", extra={"migrations": [m.label for m in applied]})
    selection = select_tenants(db, request, settings.map_max_concurrency)
    logger.info(
        "tenants selected",
        extra={
            "selected": len(selection.user_ids),
            "unknown": len(selection.unknown_user_ids),
            "notSynced": len(selection.not_synced),
            "fullResync": selection.full_resync,
        },
    )
    return selection.to_output()
