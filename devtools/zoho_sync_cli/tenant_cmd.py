"""`zoho-sync tenant ...`: a tenant's whole life, from adding it to removing its data."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from books_sync.errors import EventError
from books_sync.events import parse_step_event
from books_sync.records.schedule import ReminderPolicy
from books_sync.storage import tenants
from books_sync.storage.tenants import Tenant
from zoho_sync_cli.connection_check import check_new_connection, check_stored_token
from zoho_sync_cli.console import CliError, Exit, UsageError, note, result_json, result_table
from zoho_sync_cli.database import open_database


def valid_user_id(raw: str) -> str:
    """The ids the steps accept, and no other (a trailing newline or a space included)."""
    try:
        return parse_step_event({"userId": raw}).user_id
    except EventError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("userId: ")) from None


def _refresh_token(args: argparse.Namespace) -> str:
    token = sys.stdin.readline().strip() if args.refresh_token_stdin else args.refresh_token
    if not token:
        raise CliError("give --refresh-token or --refresh-token-stdin")
    return str(token)


def cmd_add(args: argparse.Namespace) -> int:
    """Check the token and the organization with Zoho first (unless --no-verify): nothing is stored otherwise."""
    token = _refresh_token(args)
    db = open_database()
    try:
        existing = tenants.get(db, args.user_id)
        if existing:
            _refuse_to_mix(existing, args.organization_id, args.data_center, purge=args.purge_cache)
        if not args.no_verify:
            check_new_connection(db, _candidate(args, existing), token)
        if existing and args.purge_cache:
            tenants.purge_cache(db, existing.user_id)
        created = tenants.upsert(
            db,
            user_id=args.user_id,
            organization_id=args.organization_id,
            refresh_token=token,
            data_center=args.data_center,
            email=args.email,
            daily_call_budget=args.daily_call_budget,
        )
    finally:
        db.close()
    print(f"{'added' if created else 'updated'} tenant {args.user_id} (organization {args.organization_id}, active)")
    return Exit.OK


def cmd_list(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        rows = tenants.list_all(db)
    finally:
        db.close()
    if args.json:
        result_json([tenant_json(t) for t in rows])
        return Exit.OK
    if not rows:
        note("no tenants; add one with `zoho-sync tenant add`")
        return Exit.OK
    result_table(
        ["tenant", "organization", "dc", "status", "daily budget", "email"],
        [[t.user_id, t.organization_id, t.data_center, t.status, t.daily_call_budget, t.email or ""] for t in rows],
    )
    return Exit.OK


def tenant_json(tenant: tenants.Tenant) -> dict[str, Any]:
    return {
        "userId": tenant.user_id,
        "organizationId": tenant.organization_id,
        "dataCenter": tenant.data_center,
        "status": tenant.status,
        "statusReason": tenant.status_reason,
        "dailyCallBudget": tenant.daily_call_budget,
        "email": tenant.email,
    }


def _candidate(args: argparse.Namespace, existing: Tenant | None) -> Tenant:
    """The tenant as `tenant add` would store it, for the check before anything is stored."""
    return Tenant(
        user_id=args.user_id,
        email=args.email,
        organization_id=args.organization_id,
        data_center=args.data_center or (existing.data_center if existing else "com"),
        status="active",
        status_reason=None,
        daily_call_budget=args.daily_call_budget or (existing.daily_call_budget if existing else 1000),
        organization_country_code=None,
        organization_timezone=None,
    )


def _refuse_to_mix(existing: Tenant, organization_id: str, data_center: str | None, *, purge: bool) -> None:
    """Another organization (or data center) must not land on the old one's cache unless it is purged."""
    switching = existing.organization_id != organization_id or bool(data_center and existing.data_center != data_center)
    if switching and not purge:
        raise CliError(
            f"tenant {existing.user_id} is connected to organization {existing.organization_id} "
            f"({existing.data_center}); switching it would mix two organizations' data: add --purge-cache "
            "to delete the cached customers, invoices and reminders first"
        )


def cmd_update(args: argparse.Namespace) -> int:
    changes = {k: v for k, v in vars(args).items() if k in tenants.UPDATABLE and v is not None}
    if args.reminder_offsets is not None:
        changes["reminder_offsets_days"] = sorted(set(args.reminder_offsets))
    if args.poll_hours_with_webhooks == 0:
        changes["poll_hours_with_webhooks"] = None  # off
    if not changes:
        raise UsageError("nothing to change: give one of the options (see --help)")
    db = open_database()
    try:
        existing = tenants.require(db, args.user_id)
        _refuse_to_mix(existing, existing.organization_id, args.data_center, purge=args.purge_cache)
        if args.purge_cache:
            tenants.purge_cache(db, existing.user_id)
        tenants.update(db, args.user_id, changes)
    finally:
        db.close()
    print(f"updated tenant {args.user_id}: " + ", ".join(f"{k} {v}" for k, v in changes.items()))
    return Exit.OK


def _set_status(user_id: str, status: str, reason: str | None) -> None:
    db = open_database()
    try:
        tenants.require(db, user_id)
        tenants.set_status(db, user_id, status, reason)
    finally:
        db.close()


def cmd_disable(args: argparse.Namespace) -> int:
    _set_status(args.user_id, "disabled", args.reason or "disabled by an operator")
    print(f"tenant {args.user_id} disabled: not synced until `zoho-sync tenant enable`; its data is kept")
    return Exit.OK


def cmd_enable(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        tenant = tenants.require(db, args.user_id)
        if tenant.status == "needs_reauth":
            raise CliError(f"tenant {args.user_id} needs re-authorization: `zoho-sync tenant reactivate` checks it")
        tenants.set_status(db, args.user_id, "active", None)
    finally:
        db.close()
    print(f"tenant {args.user_id} enabled: the next run syncs it")
    return Exit.OK


def cmd_reactivate(args: argparse.Namespace) -> int:
    """After the user connected the app again (or an operator fixed the client): check with one refresh."""
    db = open_database()
    try:
        tenants.require(db, args.user_id)
        if args.refresh_token or args.refresh_token_stdin:
            tenants.replace_refresh_token(db, args.user_id, _refresh_token(args))
        tenants.set_status(db, args.user_id, "active", None)
        check_stored_token(db, args.user_id)
    finally:
        db.close()
    print(f"tenant {args.user_id} is active again: its refresh token works")
    return Exit.OK


def cmd_remove(args: argparse.Namespace) -> int:
    if not args.yes:
        raise UsageError(
            f"this deletes tenant {args.user_id}'s tokens and all its cached customers, invoices and reminders; "
            "add --yes to go on (`zoho-sync tenant disable` keeps them)"
        )
    db = open_database()
    try:
        tenants.require(db, args.user_id)
        counts = tenants.remove(db, args.user_id)
    finally:
        db.close()
    print(f"removed tenant {args.user_id}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    return Exit.OK


def cmd_rekey(args: argparse.Namespace) -> int:
    """After a key change (TOKEN_KMS_KEY_ID, or a new first line in the key file): every token under the new key."""
    db = open_database()
    try:
        sealed = tenants.encrypt_stored_tokens(db, everything=True)
        keys = tenants.keys_in_use(db)
    finally:
        db.close()
    print(f"encrypted the tokens of {sealed} tenants again; tenants by key:")
    result_table(["key", "tenants"], [[key, count] for key, count in keys.items()])
    return Exit.OK


def register(commands: Any) -> Any:
    """The `tenant` command; returns its actions (other modules add theirs: `tenant webhook`)."""
    tenant = commands.add_parser("tenant", help="add, change, pause or remove tenants", description="Manage tenants.")
    actions = tenant.add_subparsers(dest="tenant_command", required=True, metavar="ACTION")
    _add(actions)
    listing = actions.add_parser("list", help="tenants and their connection status (never tokens)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_list)
    _update(actions)
    rekey = actions.add_parser(
        "rekey",
        help="encrypt every tenant's tokens again with the current key (after a key change, before the old goes)",
        description="Encrypt every tenant's stored tokens again with the current key: TOKEN_KMS_KEY_ID, else the "
        "first local key. The old key must still be readable (kept in the key file, or allowed in KMS).",
    )
    rekey.set_defaults(func=cmd_rekey)
    for name, func, text in [
        ("disable", cmd_disable, "stop syncing a tenant, keeping its data"),
        ("enable", cmd_enable, "sync a disabled tenant again"),
        ("reactivate", cmd_reactivate, "after re-authorization: store a new token (optional), check it, set active"),
        ("remove", cmd_remove, "delete a tenant's tokens and all its cached data (asks for --yes)"),
    ]:
        action = actions.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".")
        action.add_argument("--user-id", required=True, type=valid_user_id, help="the tenant")
        action.set_defaults(func=func)
        if name == "disable":
            action.add_argument("--reason", help="shown by `status` (default: disabled by an operator)")
        if name == "remove":
            action.add_argument("--yes", action="store_true", help="yes, delete its data")
        if name == "reactivate":
            _token_options(action, required=False)
    return actions


def _token_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    token = parser.add_mutually_exclusive_group(required=required)
    token.add_argument("--refresh-token", help="the Zoho OAuth refresh token (visible in `ps`: prefer the next)")
    token.add_argument("--refresh-token-stdin", action="store_true", help="read the refresh token from stdin")


def _add(actions: Any) -> None:
    add = actions.add_parser(
        "add",
        help="add a tenant, or reconnect one with a new refresh token",
        description="Add a tenant (user and Zoho connection) or give it a new refresh token; the token is checked "
        "with one refresh unless --no-verify. The connection becomes active.",
    )
    add.add_argument(
        "--user-id", required=True, type=valid_user_id, help="the tenant's id (1-128 of A-Z a-z 0-9 _ . : @ -)"
    )
    add.add_argument("--organization-id", required=True, type=_organization_id, help="the Zoho Books organization id")
    _token_options(add, required=True)
    add.add_argument(
        "--data-center", choices=tenants.DATA_CENTERS, help="Zoho data center (default: com; kept on re-add)"
    )
    add.add_argument("--email", help="the owner's email (default: none; kept on re-add)")
    add.add_argument("--daily-call-budget", type=_budget, metavar="N", help="Zoho calls a day (default: 1000)")
    add.add_argument("--no-verify", action="store_true", help="do not check the refresh token with Zoho")
    add.add_argument(
        "--purge-cache", action="store_true", help="switching organization or data center: delete the old cache"
    )
    add.set_defaults(func=cmd_add)


def _update(actions: Any) -> None:
    update = actions.add_parser(
        "update", help="change a tenant's settings (never its token)", description="Change a tenant's settings."
    )
    update.add_argument("--user-id", required=True, type=valid_user_id, help="the tenant")
    update.add_argument("--daily-call-budget", type=_budget, metavar="N", help="Zoho calls a day")
    update.add_argument("--data-center", choices=tenants.DATA_CENTERS, help="Zoho data center (needs --purge-cache)")
    update.add_argument(
        "--purge-cache", action="store_true", help="switching data center: delete the old cache (and cached token)"
    )
    update.add_argument("--email", help="the owner's email")
    update.add_argument(
        "--reminder-offsets",
        type=_offset,
        nargs="+",
        metavar="DAYS",
        help=f"days from the basis date (default {list(ReminderPolicy().offsets_days)})",
    )
    update.add_argument("--reminder-hour", type=_hour, metavar="H", help="local hour to send at (default 9)")
    update.add_argument(
        "--reminder-basis",
        choices=("due_date", "expected_payment_date"),
        help="count from the due date (default) or the promised payment date where there is one",
    )
    update.add_argument(
        "--reminder-repeat-days",
        type=_repeat_days,
        metavar="N",
        help="while overdue, repeat every N days after the last offset (default: off)",
    )
    update.add_argument("--reminder-repeat-max", type=_repeats, metavar="M", help="at most M repeats (default 0)")
    update.add_argument(
        "--reminder-grace-hours",
        type=_grace_hours,
        metavar="H",
        help="a send time missed by less is still sent; a reminder Zoho could not confirm by then is given up "
        "(default 12)",
    )
    update.add_argument(
        "--reminder-freshness-minutes",
        type=_freshness,
        metavar="N",
        help="a reminder goes out only on data Zoho confirmed at most N minutes ago (default 15)",
    )
    update.add_argument(
        "--poll-hours-with-webhooks",
        type=_poll_hours,
        metavar="N",
        help="while webhooks reach the tenant, a quiet tenant is synced every N hours (2-24) instead of hourly; "
        "0 turns it off (the default). The freshen still confirms it before each reminder",
    )
    update.set_defaults(func=cmd_update)


def _number(raw: str, low: int, high: int | None, what: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"expected {what}, got {raw!r}")
    return value


def _poll_hours(raw: str) -> int:
    value = _number(raw, 0, 24, "0 (off) or 2 to 24 hours")
    if value == 1:
        raise argparse.ArgumentTypeError("expected 0 (off) or 2 to 24 hours, got '1' (hourly is what off means)")
    return value


def _budget(raw: str) -> int:
    return _number(raw, 1, 10_000_000, "calls a day from 1 to 10,000,000")


def _offset(raw: str) -> int:
    return _number(raw, -365, 365, "days from -365 to 365")


def _repeat_days(raw: str) -> int:
    return _number(raw, 1, 365, "days from 1 to 365")


def _grace_hours(raw: str) -> int:
    return _number(raw, 0, 168, "hours from 0 to 168")


def _hour(raw: str) -> int:
    return _number(raw, 0, 23, "an hour from 0 to 23")


def _freshness(raw: str) -> int:
    return _number(raw, 1, 1440, "minutes from 1 to 1440")


def _repeats(raw: str) -> int:
    return _number(raw, 0, 27, "0 to 27 (Zoho allows 30 reminders an invoice)")


def _organization_id(raw: str) -> str:
    value = raw.strip()
    if not value or len(value) > 64 or not value.isalnum():
        raise argparse.ArgumentTypeError("expected Zoho's organization id (1-64 letters and digits)")
    return value
