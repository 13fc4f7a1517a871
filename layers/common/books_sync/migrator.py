"""Applies the numbered SQL files in `migrations/`, each once, each in its own transaction.

A Postgres advisory lock serializes concurrent runs (two deploys, two Lambdas), so each file is
applied exactly once; `schema_migrations` records what has been applied. Files go through the
simple-query protocol whole, so `DO` blocks and multi-statement files need no splitting.

A migration whose data needs Python (encrypting tokens, say) has a data step beside its file:
`mNNNN_name.py` next to `NNNN_name.sql`, with `apply(db)`, run right after the SQL in the same
transaction, so the file and its data step are applied together or not at all.

A file that says `-- migrate: outside a transaction` on a line of its own is applied a statement at a
time, each committed on its own: that is what `CREATE INDEX CONCURRENTLY` needs to build an index on a
fleet's largest tables without holding their writes. Its statements must be safe to run again, end
with `;` at the end of a line, and it has no data step. A build is written `CREATE [UNIQUE] INDEX
CONCURRENTLY IF NOT EXISTS name`: run again, an index built already is kept, and one whose build failed
(Postgres leaves it behind, invalid) is dropped first and built again. A waiting migrator polls for
the lock (`Database.advisory_lock`).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from books_sync.db import Database
from books_sync.errors import DatabaseError, MigrationError, SchemaBehind

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = "zoho-books-sync:migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
OUTSIDE_A_TRANSACTION = "-- migrate: outside a transaction"
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)
_BUILD = re.compile(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+(\w+)\s", re.IGNORECASE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def data_step(self) -> Path | None:
        """The Python data step beside the SQL file (`mNNNN_name.py`), if there is one."""
        path = self.path.with_name(f"m{self.label}.py")
        return path if path.is_file() else None


def _run_data_step(migration: Migration, path: Path, db: Database) -> None:
    """Load `mNNNN_name.py` and call its `apply(db)`."""
    spec = importlib.util.spec_from_file_location(f"books_sync_migration_m{migration.label}", path)
    if spec is None or spec.loader is None:
        raise MigrationError(f"migration {migration.label}: cannot load its data step {path.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    apply: Callable[[Database], None] = module.apply
    apply(db)


def statements(sql: str) -> list[str]:
    """The statements of a file applied outside a transaction: its lines that are not comments, cut at
    each `;` that ends a line."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [statement.strip() for statement in _STATEMENT_END.split(body) if statement.strip()]


def _run_outside_a_transaction(db: Database, statement: str) -> None:
    """One statement, committed on its own; before a build, what a failed build of it left behind goes."""
    build = _BUILD.match(statement)
    if build and db.scalar(
        "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)", name=build.group(1)
    ):
        db.execute_script(f'DROP INDEX CONCURRENTLY "{build.group(1)}"')  # a \w+ name from our own file
    db.execute_script(statement)


def _apply(db: Database, migration: Migration) -> None:
    sql = migration.path.read_text(encoding="utf-8")
    record = "INSERT INTO schema_migrations (version, name) VALUES (:version, :name)"
    if OUTSIDE_A_TRANSACTION in (line.strip() for line in sql.splitlines()):
        if migration.data_step is not None:
            raise MigrationError(f"migration {migration.label}: a file applied outside a transaction has no data step")
        for statement in statements(sql):
            _run_outside_a_transaction(db, statement)
        db.run(record, version=migration.version, name=migration.name)
        return
    with db.transaction():
        db.execute_script(sql)
        if migration.data_step is not None:
            _run_data_step(migration, migration.data_step, db)
        db.run(record, version=migration.version, name=migration.name)


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name!r} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"two migration files share version {version}: {found[version].path.name}, {path.name}"
            )
        found[version] = Migration(version, match.group(2), path)
    return [found[version] for version in sorted(found)]


def _ensure_table(db: Database) -> None:
    db.run(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )


def applied_versions(db: Database) -> dict[int, datetime]:
    if not db.scalar("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        return {}
    return {row[0]: row[1] for row in db.run("SELECT version, applied_at FROM schema_migrations")}


def current_version(db: Database) -> int:
    """The newest migration applied; for a role that sees only the sender's schema (zoho_sender), from its
    view of it (migration 0020)."""
    applied = applied_versions(db)
    if applied:
        return max(applied)
    if db.scalar("SELECT to_regclass('reminder_sender.schema_version') IS NOT NULL"):
        return int(db.scalar("SELECT coalesce(version, 0) FROM reminder_sender.schema_version") or 0)
    return 0


def migrate(db: Database, target: int | None = None, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Bring the schema up to `target` (default: the newest file). Returns what was applied."""
    migrations = discover(directory)
    known = {migration.version for migration in migrations}
    if target is not None and target != 0 and target not in known:
        raise MigrationError(f"--to {target}: no such migration (known: {', '.join(map(str, sorted(known)))})")
    applied_now: list[Migration] = []
    with db.locked(_LOCK_KEY, wait=True):
        _ensure_table(db)
        done = applied_versions(db)
        newest_done = max(done, default=0)
        if target is not None and newest_done > target:
            raise MigrationError(
                f"the database is at migration {newest_done}, beyond --to {target}; downgrades are not supported"
            )
        for migration in migrations:
            if migration.version in done or (target is not None and migration.version > target):
                continue
            try:
                _apply(db, migration)
            except DatabaseError as exc:
                raise MigrationError(f"migration {migration.label} failed: {exc}") from None
            applied_now.append(migration)
    return applied_now


def require_current(db: Database) -> None:
    """Refuse to work on a schema older than this code's newest migration, with what to do."""
    newest = discover()[-1].version
    current = current_version(db)
    if current < newest:
        where = "no schema at all" if current == 0 else f"the schema is at migration {current}"
        raise SchemaBehind(
            f"{where}, this code needs {newest}: run the migrations first (zoho-sync migrate, or the migrate function)"
        )
