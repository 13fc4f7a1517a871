"""Data step of migration 0010: encrypt the tokens stored in plaintext, then let Postgres hold the line.

Runs in the migration's transaction, right after its SQL: either every row is encrypted and the
migration recorded, or nothing changed. With no plaintext row (a new database) no key is touched.
"""

from __future__ import annotations

from books_sync.db import Database
from books_sync.storage import tenants


def apply(db: Database) -> None:
    tenants.encrypt_stored_tokens(db, everything=False)
    db.run("ALTER TABLE zoho_connections VALIDATE CONSTRAINT zoho_connections_tokens_encrypted")
