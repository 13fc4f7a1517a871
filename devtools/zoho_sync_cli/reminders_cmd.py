"""`zoho-sync reminders due|claim|complete`: the sender's contract from the command line.

`due` shows what a sender would be given (the phone to use included: that is its job); `claim`
takes reminders under a lease and prints them as JSON with their claim id; `complete` reports one
sent or failed. The reminder id is the idempotency key to pass to the SMS/WhatsApp provider.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime
from typing import Any

from books_sync.db import Database
from books_sync.errors import UnknownTenant
from books_sync.storage import deliveries
from zoho_sync_cli.console import CliError, Exit, note, result_json, result_table
from zoho_sync_cli.database import open_database
from zoho_sync_cli.money import money
from zoho_sync_cli.tenant_cmd import valid_user_id


def _moment(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a time such as 2026-12-01T09:00+00:00, got {raw!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time with its offset, e.g. 2026-12-01T09:00+05:30")
    return moment


def _rows(found: list[deliveries.Delivery]) -> list[list[object]]:
    return [
        [
            d.user_id,
            d.invoice_number or d.zoho_invoice_id,
            d.customer_name or "",
            d.phone + (" (override)" if d.phone_is_override else ""),
            money(d.balance, d.currency_code),
            f"{d.send_at_local:%Y-%m-%d %H:%M} {d.timezone}",
            f"{d.send_at_utc:%Y-%m-%d %H:%M}",
        ]
        for d in found
    ]


HEADERS = ["tenant", "invoice", "customer", "phone", "balance", "send at (local)", "send at (UTC)"]


WAITING_HEADERS = ["tenant", "invoice", "customer", "send at (UTC)", "given up at (UTC)", "waiting for"]


def _waiting_rows(found: list[deliveries.Waiting]) -> list[list[object]]:
    return [
        [
            w.user_id,
            w.invoice_number or w.zoho_invoice_id,
            w.customer_name or "",
            f"{w.send_at_utc:%Y-%m-%d %H:%M}",
            f"{w.give_up_at:%Y-%m-%d %H:%M}",
            w.waiting_reason,
        ]
        for w in found
    ]


def _known(db: Database, user_id: str | None) -> None:
    if user_id is not None and not deliveries.tenant_exists(db, user_id):
        raise UnknownTenant(f"unknown tenant {user_id!r}")


def cmd_due(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        _known(db, args.user_id)
        found = deliveries.upcoming(db, user_id=args.user_id, before=args.before, limit=args.limit)
        waits = deliveries.waiting(db, user_id=args.user_id, limit=args.limit)
    finally:
        db.close()
    if args.waiting:
        _show_waiting(waits, as_json=args.json)
    elif args.json:
        result_json([d.to_json() for d in found])
    else:
        _show_due(found, waits, args.before)
    return Exit.OK


def _show_due(found: list[deliveries.Delivery], waits: list[deliveries.Waiting], before: datetime | None) -> None:
    if found:
        result_table(HEADERS, _rows(found))
    else:
        note("no reminders due" + (f" before {before.isoformat()}" if before else ""))
    if waits:
        note(f"{len(waits)} reminder(s) due but waiting, not handed out (Zoho has not confirmed their data lately):")
        result_table(WAITING_HEADERS, _waiting_rows(waits))


def _show_waiting(waits: list[deliveries.Waiting], *, as_json: bool) -> None:
    if as_json:
        result_json([w.to_json() for w in waits])
    elif waits:
        result_table(WAITING_HEADERS, _waiting_rows(waits))
    else:
        note("no reminder waits for Zoho's confirmation")


def cmd_claim(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        _known(db, args.user_id)
        claimed = deliveries.claim(db, user_id=args.user_id, limit=args.limit, lease_seconds=args.lease_seconds)
    finally:
        db.close()
    result_json([d.to_json() for d in claimed])
    return Exit.OK


def cmd_complete(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        answer = deliveries.complete(
            db, reminder_id=args.reminder_id, claim_id=args.claim_id, outcome=args.outcome, error=args.error
        )
    finally:
        db.close()
    print(answer)
    if answer == "not claimed":
        raise CliError(f"reminder {args.reminder_id} is not claimed with {args.claim_id} (its lease may have ended)")
    return Exit.OK


def _bounded(high: int) -> Any:
    def parse(raw: str) -> int:
        value = int(raw) if raw.isdigit() and len(raw) <= 12 else 0
        if not 0 < value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer from 1 to {high:,}, got {raw[:20]!r}")
        return value

    return parse


def _uuid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an id as `claim` printed it (a UUID), got {raw[:40]!r}") from None


def register(commands: Any) -> None:
    reminders = commands.add_parser(
        "reminders", help="due reminders, and the sender's claim/complete", description=__doc__
    )
    actions = reminders.add_subparsers(dest="reminders_command", required=True, metavar="ACTION")
    due = actions.add_parser("due", help="reminders due now (or before a time), with the phone to use")
    due.add_argument("--user-id", type=valid_user_id, help="one tenant (default: all)")
    due.add_argument("--before", type=_moment, help="due before this time, e.g. 2026-12-01T09:00+00:00 (default: now)")
    due.add_argument("--limit", type=_bounded(100_000), default=1000, help="at most this many (default: 1000)")
    due.add_argument("--json", action="store_true", help="machine-readable output")
    due.add_argument(
        "--waiting",
        action="store_true",
        help="instead: the reminders due but not handed out, and why (Zoho has not confirmed their data lately, "
        "the tenant is not active)",
    )
    due.set_defaults(func=cmd_due)
    claim = actions.add_parser("claim", help="take due reminders under a lease (JSON with each claim id)")
    claim.add_argument("--user-id", type=valid_user_id, help="one tenant (default: all)")
    claim.add_argument("--limit", type=_bounded(1000), default=10, help="at most this many (default: 10)")
    claim.add_argument(
        "--lease-seconds", type=_bounded(86_400), default=300, help="how long they are yours (default: 300)"
    )
    claim.set_defaults(func=cmd_claim)
    complete = actions.add_parser("complete", help="report a claimed reminder sent or failed")
    complete.add_argument(
        "--reminder-id", required=True, type=_uuid, help="the reminder (also the provider's idempotency key)"
    )
    complete.add_argument("--claim-id", required=True, type=_uuid, help="the claim id `claim` gave")
    complete.add_argument("--outcome", required=True, choices=("sent", "failed"), help="what happened")
    complete.add_argument("--error", help="why it failed (kept with the reminder)")
    complete.set_defaults(func=cmd_complete)
