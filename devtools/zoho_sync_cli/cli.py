"""`zoho-sync`: the developer and operator command line.

Results go to stdout (tables, or JSON with `--json`); which database, progress, notes and errors
go to stderr. Every error is one line and an exit code (see `console.Exit`), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from importlib import metadata

from books_sync.errors import (
    DatabaseError,
    DatabaseUnavailable,
    MigrationError,
    SchemaBehind,
    SettingsError,
    TenantNotActive,
    UnknownTenant,
)
from books_sync.migrator import current_version, discover, migrate
from books_sync.settings import SETTINGS
from zoho_sync_cli import freshen_cmd, logs, reminders_cmd, run_cmd, status_cmd, tenant_cmd, webhooks_cmd
from zoho_sync_cli.console import CliError, Exit, UsageError, note
from zoho_sync_cli.database import open_database

_ONE_LINE = (
    CliError,
    SettingsError,
    DatabaseUnavailable,
    DatabaseError,
    MigrationError,
    SchemaBehind,
    UnknownTenant,
    TenantNotActive,
    ValueError,
    OSError,
)


def cmd_migrate(args: argparse.Namespace) -> int:
    db = open_database(purpose="migrate", schema=False)
    try:
        applied = migrate(db, target=args.to)
        version = current_version(db)
    finally:
        db.close()
    for migration in applied:
        print(f"applied {migration.label}")
    if not applied:
        print("nothing to apply")
    newest = discover()[-1].version
    print(f"schema at migration {version}" + ("" if version == newest else f" (newest is {newest})"))
    return Exit.OK


def cmd_emulator(args: argparse.Namespace) -> int:
    from zoho_sync_cli.emulator_cmd import serve

    return serve(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from zoho_sync_cli.demo import run_demo

    return run_demo()


def _environment_help() -> str:
    names = ", ".join(setting.env for setting in SETTINGS)
    return f"Settings come from the environment (see the README's configuration table): {names}."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoho-sync",
        description="Mirror Zoho Books customers and invoices into Postgres and schedule payment reminders.",
        epilog=_environment_help(),
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="the steps' logs on stderr (-vv: debug)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p_migrate = commands.add_parser(
        "migrate", help="apply database migrations", description="Apply pending migrations."
    )
    p_migrate.add_argument("--to", type=int, metavar="N", help="stop after migration N (default: the newest)")
    p_migrate.set_defaults(func=cmd_migrate)
    webhooks_cmd.register(commands, tenant_cmd.register(commands))
    run_cmd.register(commands)
    freshen_cmd.register(commands)
    status_cmd.register(commands)
    reminders_cmd.register(commands)
    from zoho_sync_cli.emulator_cmd import register as register_emulator

    register_emulator(commands, cmd_emulator)
    p_demo = commands.add_parser(
        "demo", help="run the whole system locally and print a summary", description="Local end-to-end demo."
    )
    p_demo.set_defaults(func=cmd_demo)
    return parser


def _version() -> str:
    try:
        return metadata.version("zoho-books-sync")
    except metadata.PackageNotFoundError:
        return "unknown"


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a closed terminal): unwound like Ctrl-C, so every `finally` runs (the steps record
    the interruption, leases are given back, an embedded Postgres stops)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, _frame: object) -> None:
    raise Stopped(signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    with logs.configured(args.verbose):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command, with every failure turned into one line and an exit code."""
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # here, where a reader that has gone is handled, not at exit
        return code
    except BrokenPipeError:  # before OSError (_ONE_LINE): the reader (`| head -1`) has gone, nothing to say
        _quiet_stdout()
        return Exit.OK
    except UsageError as exc:
        note(f"zoho-sync: error: {_one_line(exc)}")
        return Exit.USAGE
    except _ONE_LINE as exc:
        note(f"zoho-sync: error: {_one_line(exc)}")
        return Exit.FAILED
    except KeyboardInterrupt as exc:
        why = f" ({exc})" if isinstance(exc, Stopped) else ""
        resumes = ": every committed page is kept; the next run resumes" if args.command in ("run", "freshen") else ""
        note(f"zoho-sync: interrupted{why}{resumes}")
        return 128 + exc.signum if isinstance(exc, Stopped) else Exit.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, never a traceback
        note(f"zoho-sync: unexpected error: {type(exc).__name__}: {_one_line(exc)} (run with -v for the logs)")
        return Exit.FAILED


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at nothing so Python's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
