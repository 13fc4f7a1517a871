"""`zoho-sync`: the developer and operator command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from books_sync.db import Database, connect_from_settings
from books_sync.errors import DatabaseError, DatabaseUnavailable, MigrationError, SettingsError
from books_sync.migrator import current_version, discover, migrate
from books_sync.settings import get_settings
from books_sync.storage import tenants
from zoho_sync_cli.embedded_db import use_embedded_unless_configured
from zoho_sync_cli.tables import render


class CliError(Exception):
    """A problem to report on one line, exit code 1."""


def _open_db() -> Database:
    return connect_from_settings(get_settings())


def cmd_migrate(args: argparse.Namespace) -> int:
    db = connect_from_settings(get_settings(), purpose="migrate")
    try:
        applied = migrate(db, target=args.to)
        version = current_version(db)
    finally:
        db.close()
    if applied:
        for migration in applied:
            print(f"applied {migration.label}")
    else:
        print("nothing to apply")
    newest = discover()[-1].version
    print(f"schema at migration {version}" + ("" if version == newest else f" (newest is {newest})"))
    return 0


def cmd_tenant_add(args: argparse.Namespace) -> int:
    refresh_token = args.refresh_token
    if args.refresh_token_stdin:
        refresh_token = sys.stdin.readline().strip()
    if not refresh_token:
        raise CliError("tenant add: give --refresh-token or --refresh-token-stdin")
    db = _open_db()
    try:
        created = tenants.upsert(
            db,
            user_id=args.user_id,
            organization_id=args.organization_id,
            refresh_token=refresh_token,
            data_center=args.data_center,
            email=args.email,
            daily_call_budget=args.daily_call_budget,
        )
    finally:
        db.close()
    action = "added" if created else "updated"
    print(f"{action} tenant {args.user_id} (organization {args.organization_id}, status active)")
    return 0


def cmd_tenant_list(args: argparse.Namespace) -> int:
    db = _open_db()
    try:
        rows = tenants.list_all(db)
    finally:
        db.close()
    if not rows:
        print("no tenants; add one with `zoho-sync tenant add`")
        return 0
    print(
        render(
            ["user", "organization", "dc", "status", "daily budget", "email"],
            [[t.user_id, t.organization_id, t.data_center, t.status, t.daily_call_budget, t.email or ""] for t in rows],
        )
    )
    return 0


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {raw!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {raw!r}")
    return value


def _non_empty(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    if len(value) > 200:
        raise argparse.ArgumentTypeError("must be at most 200 characters")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoho-sync",
        description="Mirror Zoho Books customers and invoices into Postgres and schedule payment reminders.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_migrate = commands.add_parser(
        "migrate", help="apply database migrations", description="Apply pending migrations."
    )
    p_migrate.add_argument("--to", type=int, metavar="N", help="stop after migration N (default: the newest)")
    p_migrate.set_defaults(func=cmd_migrate)

    p_tenant = commands.add_parser("tenant", help="add or list tenants", description="Manage tenants.")
    tenant_commands = p_tenant.add_subparsers(dest="tenant_command", required=True, metavar="ACTION")
    p_add = tenant_commands.add_parser(
        "add",
        help="add a tenant, or reconnect one with a new refresh token",
        description="Add a tenant (user + Zoho connection), or update its token; sets the connection active.",
    )
    p_add.add_argument("--user-id", required=True, type=_non_empty)
    p_add.add_argument("--organization-id", required=True, type=_non_empty)
    token = p_add.add_mutually_exclusive_group()
    token.add_argument("--refresh-token", type=_non_empty, help="the Zoho OAuth refresh token")
    token.add_argument("--refresh-token-stdin", action="store_true", help="read the refresh token from stdin")
    p_add.add_argument(
        "--data-center", choices=tenants.DATA_CENTERS, help="Zoho data center (default: com; kept on re-add)"
    )
    p_add.add_argument("--email")
    p_add.add_argument("--daily-call-budget", type=_positive_int, metavar="N", help="Zoho API calls per day")
    p_add.set_defaults(func=cmd_tenant_add)
    p_list = tenant_commands.add_parser("list", help="list tenants (never prints tokens)", description="List tenants.")
    p_list.set_defaults(func=cmd_tenant_list)

    p_emulator = commands.add_parser(
        "emulator",
        help="serve the Zoho Books emulator over HTTP",
        description="Serve the Zoho Books emulator (API, OAuth token endpoint and /_emulator/ control API) "
        "until interrupted.",
    )
    p_emulator.add_argument("--host", default="127.0.0.1")
    p_emulator.add_argument("--port", type=int, default=8765)
    p_emulator.add_argument("--org", metavar="ORGANIZATION_ID", help="create this organization at start")
    p_emulator.add_argument("--customers", type=int, default=200)
    p_emulator.add_argument("--invoices", type=int, default=1000)
    p_emulator.add_argument("--seed", type=int, default=1)
    p_emulator.add_argument("--refresh-token", help="accept this refresh token (for --org)")
    p_emulator.add_argument("--rate-limit", metavar="K/W", help="allow K calls per W seconds per organization")
    p_emulator.add_argument(
        "--daily-limit", type=_positive_int, metavar="N", help="enforce N calls a day per organization (default: none)"
    )
    p_emulator.set_defaults(func=cmd_emulator)

    p_run = commands.add_parser(
        "run",
        help="run the three steps in process for one or every active tenant",
        description="Customer sync, invoice sync and reminders in process (no Step Functions), against the "
        "configured database and Zoho (ZOHO_* variables), with progress and a summary table.",
    )
    p_run.add_argument("--user-id", action="append", type=_non_empty, help="a tenant (repeatable; default: all active)")
    p_run.add_argument("--full-resync", action="store_true", help="reach back the whole sync window")
    p_run.set_defaults(func=cmd_run)

    p_demo = commands.add_parser(
        "demo", help="run the whole system locally and print a summary", description="Local end-to-end demo."
    )
    p_demo.set_defaults(func=cmd_demo)
    return parser


def cmd_emulator(args: argparse.Namespace) -> int:
    from zoho_emulator.server import start

    rate_limit: tuple[int, float] | None = None
    if args.rate_limit:
        try:
            calls, window = args.rate_limit.split("/")
            rate_limit = (int(calls), float(window))
        except ValueError:
            raise CliError(f"--rate-limit: expected K/W such as 100/60, got {args.rate_limit!r}") from None
    running = start(args.host, args.port)
    emulator = running.emulator
    if args.org:
        emulator.add_org(args.org, seed=args.seed, customers=args.customers, invoices=args.invoices)
        emulator.add_refresh_token(args.refresh_token or f"1000.refresh.{args.org}", [args.org])
    if rate_limit:
        emulator.set_rate_limit(*rate_limit)
    if args.daily_limit:
        emulator.configure(daily_limit=args.daily_limit)
    print(f"Zoho Books emulator on {running.url} (control API under {running.url}/_emulator/)")
    print(f"  export ZOHO_API_BASE_URL={running.api_base_url}")
    print(f"  export ZOHO_ACCOUNTS_BASE_URL={running.accounts_base_url}")
    print(f"  export ZOHO_CLIENT_ID={emulator.client_id} ZOHO_CLIENT_SECRET={emulator.client_secret}")
    if args.org:
        token = args.refresh_token or f"1000.refresh.{args.org}"
        print(f"  organization {args.org}: {args.customers} customers, {args.invoices} invoices")
        print(f"  zoho-sync tenant add --user-id demo --organization-id {args.org} --refresh-token {token}")
    try:
        running.thread.join()
    finally:
        running.stop()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from zoho_sync_cli.run import run_tenants

    return run_tenants(args.user_id, full_resync=args.full_resync)


def cmd_demo(args: argparse.Namespace) -> int:
    from zoho_sync_cli.demo import run_demo

    return run_demo()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("migrate", "tenant", "run"):
            use_embedded_unless_configured(get_settings())
        return int(args.func(args))
    except (CliError, SettingsError, DatabaseUnavailable, DatabaseError, MigrationError, ValueError) as exc:
        print(f"zoho-sync: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zoho-sync: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
