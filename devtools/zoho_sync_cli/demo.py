"""`zoho-sync demo`: the whole system on this machine, no AWS account, no Zoho, no Docker.

A throw-away embedded Postgres, the Zoho emulator with three businesses (one large enough that
its sync steps need several calls, one whose refresh token was revoked), and the real state
machine definition run by moto's Step Functions with our real handlers. Then a few records change
in Zoho and the execution runs again: an incremental run.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from typing import Any

from books_sync.db import Database
from books_sync.settings import get_settings
from books_sync.storage import webhooks
from books_sync.webhooks.secret import HEADER, digest, new_secret
from zoho_sync_cli.local_stack import LocalStack, local_stack
from zoho_sync_cli.local_state_machine import Execution, LocalStateMachine
from zoho_sync_cli.report import HEADERS, tenant_reports
from zoho_sync_cli.tables import render
from zoho_sync_cli.webhooks_cmd import running_webhooks, webhook_url

TENANTS: dict[str, dict[str, Any]] = {
    "acme": {"organization_id": "60010000001", "customers": 150, "invoices": 600, "seed": 1, "country_code": "IN"},
    "globex": {"organization_id": "60010000002", "customers": 1500, "invoices": 4000, "seed": 2, "country_code": "GB"},
    "initech": {"organization_id": "60010000003", "customers": 40, "invoices": 80, "seed": 3, "country_code": "US"},
}
REVOKED = "initech"
# Each Lambda call gets a 1 s working budget (timeout minus the safety margin), so the large
# tenant's first sync needs several calls: the state machine's hasMore loop at work.
DEMO_TIMEOUT_SECONDS = 1.0
LOCAL_ONLY = {"zoho-sync-read-work-list"}  # the local runner's stand-in for the Maps' ItemReader: no Lambda in AWS
DEMO_SAFETY_MARGIN_SECONDS = 0.0


def run_demo() -> int:
    with local_stack() as stack:
        os.environ["ZOHO_RATE_LIMIT_CALLS"] = "100000"  # the emulator has no rate limit in the demo
        os.environ["SYNC_TIME_SAFETY_MARGIN_SECONDS"] = str(DEMO_SAFETY_MARGIN_SECONDS)
        os.environ["MAX_STEP_ROUNDS"] = "50"  # 1-second calls: the large tenant needs more rounds than 15-minute ones
        get_settings.cache_clear()
        db = stack.connect()
        try:
            return _demo(stack, db)
        finally:
            db.close()


def _demo(stack: LocalStack, db: Database) -> int:
    print(f"database: {db.params.describe()} (embedded, throw-away)")
    print(f"Zoho Books emulator: {stack.emulator.url}")
    for user_id, spec in TENANTS.items():
        options = {k: v for k, v in spec.items() if k != "organization_id"}
        token = stack.add_tenant(db, user_id, spec["organization_id"], **options)
        if user_id == REVOKED:
            stack.control.revoke_refresh_token(token)
        print(f"  tenant {user_id}: {spec['customers']} customers, {spec['invoices']} invoices in Zoho")
    print(f"  ({REVOKED}'s refresh token has been revoked in Zoho, as when a user disconnects the app)")

    with LocalStateMachine(timeout_seconds=DEMO_TIMEOUT_SECONDS).running() as machine:
        print("\n== first run: state machine execution with input {} (all tenants) ==")
        first = machine.execute({})
        before = _print_execution(db, first, {})
        _explain_counts(stack, db)

        acme = TENANTS["acme"]["organization_id"]
        snapshot = stack.control.snapshot(acme)
        customer = next(c for c in snapshot["contacts"] if c["contact_type"] == "customer")
        unpaid = next(i for i in snapshot["invoices"] if i["status"] in ("sent", "overdue"))
        stack.control.update_contact(acme, customer["contact_id"], mobile="+91 98450 12345")
        stack.control.pay_invoice(acme, unpaid["invoice_id"])
        due = (date.today() + timedelta(days=20)).isoformat()
        stack.control.create_invoice(acme, customer["contact_id"], due_date=due)
        print("\n== in Zoho: acme changed a customer's mobile, got an invoice paid and issued a new one ==")
        print("== second run: incremental ==")
        second = machine.execute({})
        _print_execution(db, second, before)
    by_webhook = _payment_by_webhook(stack, db)

    healthy = [u for u in TENANTS if u != REVOKED]
    ok = all(second.outcome(user_id) == "synced" for user_id in healthy) and by_webhook
    print()
    if ok:
        print(f"healthy tenants synced: {', '.join(healthy)}")
    reauth = tenant_reports(db, [REVOKED])[REVOKED]
    print(
        f"{REVOKED} needs re-authorization (connection status: {reauth.connection}). After the user "
        f"reconnects: zoho-sync tenant reactivate --user-id {REVOKED} --refresh-token-stdin"
    )
    return 0 if ok else 1


def _payment_by_webhook(stack: LocalStack, db: Database) -> bool:
    """acme's Zoho posts webhooks to the receiver and worker (`webhooks serve`, in process): a payment cancels
    the invoice's pending reminders within seconds."""
    print("\n== webhooks: acme's Zoho posts to the receiver; the worker reads what changed ==")
    acme = TENANTS["acme"]["organization_id"]
    row = db.run(
        "SELECT i.zoho_invoice_id, i.invoice_number, count(*) FROM reminders r JOIN invoices_cache i ON i.id = "
        "r.invoice_id WHERE r.user_id = 'acme' AND r.status = 'pending' GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 1"
    )[0]
    with running_webhooks() as (address, _):
        secret = new_secret()
        webhooks.set_secret(db, "acme", digest(secret), keep_previous_for=timedelta(0))
        urls = {kind: webhook_url(address, "acme", kind) for kind in ("invoice", "contact")}
        stack.control.configure_org(acme, webhook={"urls": urls, "headers": {HEADER: secret}})
        calls = stack.control.books_calls(acme)
        started = time.monotonic()
        stack.control.pay_invoice(acme, row[0])
        while _pending(db, row[0]) and time.monotonic() - started < 10:
            time.sleep(0.05)
        took, calls = time.monotonic() - started, stack.control.books_calls(acme) - calls
    done = _pending(db, row[0]) == 0
    print(
        f"acme's invoice {row[1]} paid in Zoho: its {row[2]} pending reminder(s) "
        + (f"cancelled {took:.1f} s later, by webhook, for {calls} Zoho call(s)" if done else "still pending")
    )
    return done


def _pending(db: Database, zoho_invoice_id: str) -> int:
    return int(
        db.scalar(
            "SELECT count(*) FROM reminders r JOIN invoices_cache i ON i.id = r.invoice_id WHERE r.user_id = 'acme' "
            "AND i.zoho_invoice_id = :i AND r.status = 'pending'",
            i=zoho_invoice_id,
        )
    )


def _explain_counts(stack: LocalStack, db: Database) -> None:
    """Why a tenant shows fewer customers than Zoho has: its first sync reads back a window of time."""
    reports = tenant_reports(db, list(TENANTS))
    for user_id, spec in TENANTS.items():
        in_zoho = sum(1 for c in stack.control.snapshot(spec["organization_id"])["contacts"]
                      if c["contact_type"] == "customer")  # fmt: skip
        kept = reports[user_id].customers
        if user_id != REVOKED and kept < in_zoho:
            days = db.scalar("SELECT customer_sync_window_days FROM sync_metadata WHERE user_id = :u", u=user_id)
            print(
                f"{user_id}: {kept:,} of Zoho's {in_zoho:,} customers; the {in_zoho - kept:,} others changed more "
                f"than {days} days ago and have no invoice in the window (a first sync reads back "
                f"customer_sync_window_days; a customer who gets an invoice arrives with it)"
            )


def _print_execution(db: Database, execution: Execution, calls_before: dict[str, int]) -> dict[str, int]:
    print(f"execution {execution.status} in {execution.seconds:.1f} s", end="")
    if execution.error:
        print(f" ({execution.error}: {execution.cause})")
    else:
        print()
    print(
        "Lambda invocations: "
        + ", ".join(
            f"{name} {count}" for name, count in sorted(execution.invocations.items()) if name not in LOCAL_ONLY
        )
    )
    reports = tenant_reports(db, list(TENANTS))
    rows = [
        [*report.row(report.zoho_calls - calls_before.get(user_id, 0)), execution.outcome(user_id)]
        for user_id, report in reports.items()
    ]
    print(render([*HEADERS[:-1], "Zoho calls this run", "status"], rows))
    return {user_id: report.zoho_calls for user_id, report in reports.items()}
