"""SQL for `sync_metadata`: cursors, checkpoints and per-tenant sync settings."""

from __future__ import annotations

from books_sync.db import Database


def ensure(db: Database, user_id: str) -> None:
    db.run("INSERT INTO sync_metadata (user_id) VALUES (:user_id) ON CONFLICT DO NOTHING", user_id=user_id)
