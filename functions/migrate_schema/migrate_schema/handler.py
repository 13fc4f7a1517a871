"""Migrate: applies pending migrations, as a deploy step (`make migrate-aws`), never inside a sync.

`{}` brings the schema to the newest migration, `{"to": N}` up to N. It connects with its own
settings (the schema owner's secret, the instance's own endpoint, no statement timeout), and a
migration too long for a Lambda's 15 minutes runs from a machine instead: `zoho-sync migrate`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from books_sync.db import connect_from_settings
from books_sync.events import parse_migrate_event
from books_sync.migrator import current_version, migrate
from books_sync.observability import lambda_entry

logger = Logger(service="migrate")


@lambda_entry(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_migrate_event(event)
    db = connect_from_settings(purpose="migrate")
    try:
        applied = migrate(db, request.to)
        version = current_version(db)
    finally:
        db.close()
    labels = [migration.label for migration in applied]
    logger.info("migrations applied", extra={"applied": labels, "version": version})
    return {"applied": labels, "version": version}
