"""Data step of migration 0018: seal every `v1` refresh token again as `v2`, then let Postgres hold the line.

Runs in the migration's transaction, right after its SQL: either every row is in the new form and the
migration recorded, or nothing changed. With no `v1` row (a new database) no key is touched.
"""

from __future__ import annotations

from books_sync.db import Database
from books_sync.storage import tenants


def apply(db: Database) -> None:
    tenants.encrypt_stored_tokens(db, everything=False, legacy=True)
    db.run("ALTER TABLE zoho_connections VALIDATE CONSTRAINT zoho_connections_tokens_encrypted")
