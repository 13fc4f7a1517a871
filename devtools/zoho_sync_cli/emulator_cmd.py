"""`zoho-sync emulator`: the Zoho Books emulator over HTTP, for `zoho-sync run`, `sam local invoke` or a
look around. Its control API (under /_emulator/) is described in the README."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from zoho_sync_cli.console import CliError, Exit, note

HOST, PORT, CUSTOMERS, INVOICES, SEED = "127.0.0.1", 8765, 200, 1000, 1


def serve(args: argparse.Namespace) -> int:
    from zoho_emulator.server import start
    from zoho_emulator.state import Emulator

    if not args.org and (
        args.customers is not None or args.invoices is not None or args.refresh_token or args.webhook_url
    ):
        raise CliError(
            "--customers, --invoices, --refresh-token and --webhook-url describe an organization: give --org"
        )
    rate_limit = _rate_limit(args.rate_limit) if args.rate_limit else None
    # The organization exists before the port accepts a connection: a client that connects as soon
    # as it can (a benchmark, a script) never waits on, or times out during, its generation.
    emulator = Emulator()
    emulator.configure(profile=args.profile, **({"daily_limit": args.daily_limit} if args.daily_limit else {}))
    token = args.refresh_token or f"1000.refresh.{args.org}"
    customers = args.customers if args.customers is not None else CUSTOMERS
    invoices = args.invoices if args.invoices is not None else INVOICES
    if args.org:
        started = time.monotonic()
        note(f"generating organization {args.org}: {customers:,} customers, {invoices:,} invoices ...")
        emulator.add_org(args.org, seed=args.seed, customers=customers, invoices=invoices)
        note(f"generated in {time.monotonic() - started:.1f} s")
        emulator.add_refresh_token(token, [args.org])
        if args.webhook_url:
            emulator.configure_org(args.org, webhook=_webhook(args.webhook_url, args.webhook_secret))
    if rate_limit:
        emulator.set_rate_limit(*rate_limit)
    try:
        running = start(args.host, args.port, emulator)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port} ({exc.strerror}); pick another --port") from None
    print(f"Zoho Books emulator ({args.profile} profile) on {running.url}; control API under {running.url}/_emulator/")
    print(f"  export ZOHO_API_BASE_URL={running.api_base_url}")
    print(f"  export ZOHO_ACCOUNTS_BASE_URL={running.accounts_base_url}")
    print(f"  export ZOHO_CLIENT_ID={emulator.client_id} ZOHO_CLIENT_SECRET={emulator.client_secret}")
    if args.org:
        print(f"  organization {args.org}: {customers} customers, {invoices} invoices")
        print("  then, with those exports:")
        print("  zoho-sync migrate")
        print(f"  zoho-sync tenant add --user-id demo --organization-id {args.org} --refresh-token {token}")
        print("  zoho-sync run")
    try:
        running.thread.join()
    finally:
        running.stop()
    return Exit.OK


def _webhook(tenant_url: str, secret: str | None) -> dict[str, Any]:
    """`tenant webhook --json`'s `url` and secret, as a rule per module with a webhook would post them."""
    from books_sync.webhooks.request import ID_FIELDS
    from books_sync.webhooks.secret import HEADER
    from zoho_sync_cli.webhooks_cmd import record_url

    urls = {kind: record_url(tenant_url, kind) for kind in ID_FIELDS}
    return {"urls": urls, "headers": {HEADER: secret} if secret else {}}


def _rate_limit(raw: str) -> tuple[int, float]:
    try:
        calls, window = raw.split("/")
        parsed = (int(calls), float(window))
    except ValueError:
        raise CliError(f"--rate-limit: expected K/W such as 100/60, got {raw!r}") from None
    if parsed[0] <= 0 or parsed[1] <= 0:
        raise CliError(f"--rate-limit: expected positive numbers, got {raw!r}")
    return parsed


def _count(raw: str) -> int:
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {raw!r}")
    return int(raw)


def _port(raw: str) -> int:
    value = _count(raw)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {raw!r}")
    return value


def register(commands: Any, func: Callable[[argparse.Namespace], int]) -> None:
    emulator = commands.add_parser(
        "emulator",
        help="serve the Zoho Books emulator over HTTP",
        description="Serve the Zoho Books emulator (the Books API, the OAuth token endpoint and the /_emulator/ "
        "control API) until interrupted.",
    )
    emulator.add_argument("--host", default=HOST, help="address to listen on (default: %(default)s)")
    emulator.add_argument("--port", type=_port, default=PORT, help="port (default: %(default)s)")
    emulator.add_argument("--org", metavar="ORGANIZATION_ID", help="create this organization at start (default: none)")
    emulator.add_argument("--customers", type=_count, help=f"customers of --org (default: {CUSTOMERS})")
    emulator.add_argument("--invoices", type=_count, help=f"invoices of --org (default: {INVOICES})")
    emulator.add_argument("--seed", type=_count, default=SEED, help="data seed (default: %(default)s)")
    emulator.add_argument("--refresh-token", help="accept this refresh token for --org (default: 1000.refresh.<org>)")
    emulator.add_argument(
        "--profile",
        choices=("observed", "documented"),
        default="observed",
        help="Zoho as we have seen it, or as its reference documents it (default: %(default)s)",
    )
    emulator.add_argument(
        "--rate-limit", metavar="K/W", help="allow K calls per W seconds per organization (default: none)"
    )
    emulator.add_argument(
        "--daily-limit", type=_count, metavar="N", help="enforce N calls a day per organization (default: none)"
    )
    emulator.add_argument(
        "--webhook-url",
        metavar="URL",
        help="post Zoho-shaped webhooks for --org's changes (invoices, contacts, payments) to this tenant address "
        "(`tenant webhook --json`'s url, from `webhooks serve`)",
    )
    emulator.add_argument("--webhook-secret", metavar="S", help="the tenant's webhook secret, sent as Zoho would")
    emulator.set_defaults(func=func)
