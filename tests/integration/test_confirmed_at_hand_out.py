"""A reminder reaches a sender only on data Zoho confirmed minutes ago (migration 0015, the freshen).

Through the real handlers, the `zoho-sync` command and the sender's database functions, against the
emulator and the embedded Postgres. Time passing is simulated by moving the stored confirmation times
back (Postgres's own clock cannot be moved): "65 s later" is every confirmation 65 s older.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from books_sync.db import Database, connect, parse_database_url
from books_sync.storage import deliveries
from tests.support import MakeOrg, Org, call_step

ZOHO_PROFILES = ("observed", "documented")
LONDON = ZoneInfo("Europe/London")
CLI = str(Path(sys.executable).with_name("zoho-sync"))


def zs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, check=False, env={**os.environ})


def sync(org: Org) -> dict[str, Any]:
    call_step("customer-sync", org)
    call_step("invoice-sync", org)
    return call_step("reminders", org)


def due_now(db: Database, org: Org, phone: str = "+44 161 496 0000") -> tuple[str, str]:
    """A customer whose invoice's only reminder was wanted an hour ago (within the grace: due now)."""
    an_hour_ago = datetime.now(LONDON) - timedelta(hours=1)
    customer = org.control.create_contact(
        org.organization_id, phone=phone, billing_country="United Kingdom", payment_reminder_enabled=True
    )
    invoice = org.control.create_invoice(
        org.organization_id, customer["contact_id"], due_date=an_hour_ago.date().isoformat()
    )
    db.run(
        "UPDATE sync_metadata SET reminder_offsets_days = '{0}', reminder_local_hour = :h WHERE user_id = :u",
        h=an_hour_ago.hour,
        u=org.user_id,
    )
    return customer["contact_id"], invoice["invoice_id"]


def age(db: Database, org: Org, seconds: float) -> None:
    """As if `seconds` passed since Zoho last confirmed the tenant's data."""
    for table, columns in (
        ("sync_metadata", ("confirmed_at", "customer_pass_started_at", "invoice_pass_started_at")),
        ("invoices_cache", ("reconciled_at",)),
    ):
        moved = ", ".join(f"{c} = {c} - make_interval(secs => :s)" for c in columns)
        db.run(f"UPDATE {table} SET {moved} WHERE user_id = :u", s=float(seconds), u=org.user_id)  # noqa: S608


def reminder(db: Database, zoho_invoice_id: str) -> dict[str, Any]:
    row = db.one(
        "SELECT r.id::text AS id, r.status, r.cancel_reason, r.scheduled_for, r.attempts FROM reminders r "
        "JOIN invoices_cache i ON i.id = r.invoice_id WHERE i.zoho_invoice_id = :z",
        z=zoho_invoice_id,
    )
    assert row is not None
    return row


def claim(db: Database, org: Org) -> list[deliveries.Delivery]:
    return deliveries.claim(db, user_id=org.user_id, limit=10, lease_seconds=60)


def test_a_payment_and_a_phone_change_after_the_sync_are_never_handed_out_and_a_freshen_applies_them(
    db: Database, make_org: MakeOrg
) -> None:
    org = make_org(customers=2, invoices=0, country_code="GB")
    assert zs("tenant", "update", "--user-id", org.user_id, "--reminder-freshness-minutes", "1").returncode == 0
    _, paid = due_now(db, org)
    moved_customer, other = due_now(db, org, phone="+44 161 496 0001")
    assert sync(org)["created"] == 2
    assert {d.zoho_invoice_id for d in deliveries.upcoming(db, user_id=org.user_id, before=None)} == {paid, other}

    org.control.advance_clock(2)
    org.control.pay_invoice(org.organization_id, paid)
    org.control.update_contact(org.organization_id, moved_customer, mobile="+44 7911 123456")
    age(db, org, 65)  # a claim 65 s after the sync, with a freshness of one minute

    assert claim(db, org) == []
    assert deliveries.upcoming(db, user_id=org.user_id, before=None) == []
    waits = {w.zoho_invoice_id: w.waiting_reason for w in deliveries.waiting(db, user_id=org.user_id)}
    assert waits == {paid: "not confirmed by Zoho within 1 minutes", other: "not confirmed by Zoho within 1 minutes"}
    shown = zs("reminders", "due", "--user-id", org.user_id)
    assert (
        shown.returncode == 0 and "waiting" in shown.stderr and "not confirmed by Zoho within 1 minutes" in shown.stdout
    )

    freshened = zs("freshen", "--user-id", org.user_id, "--json")
    assert freshened.returncode == 0, freshened.stderr
    assert '"outcome": "confirmed"' in freshened.stdout
    assert reminder(db, paid)["status"] == "cancelled" and reminder(db, paid)["cancel_reason"] == "invoice paid"
    (handed,) = claim(db, org)
    assert (handed.zoho_invoice_id, handed.phone) == (other, "+447911123456")


def test_a_freshen_confirms_a_quiet_tenant_in_three_calls_and_leaves_fresh_ones_alone(
    db: Database, make_org: MakeOrg
) -> None:
    """Only tenants whose confirmation would be stale when their reminders are wanted are freshened."""
    org = make_org(customers=3, invoices=0, country_code="GB")
    due_now(db, org)
    sync(org)
    assert zs("freshen", "--user-id", org.user_id, "--json").stdout.count('"user_id"') == 0  # still fresh
    age(db, org, 16 * 60)
    before = org.control.books_calls(org.organization_id)
    result = zs("freshen", "--json")
    calls = org.control.books_calls(org.organization_id) - before
    assert result.returncode == 0 and '"outcome": "confirmed"' in result.stdout
    assert calls <= 3, calls
    assert len(claim(db, org)) == 1


def test_a_disabled_tenants_due_reminder_waits_and_is_given_up_after_its_grace_with_the_reason(
    db: Database, make_org: MakeOrg
) -> None:
    org = make_org(customers=2, invoices=0, country_code="GB")
    _, invoice = due_now(db, org)
    sync(org)
    assert zs("tenant", "disable", "--user-id", org.user_id, "--reason", "left").returncode == 0
    assert claim(db, org) == []
    (waiting,) = deliveries.waiting(db, user_id=org.user_id)
    assert waiting.waiting_reason == "tenant disabled"
    status = zs("status", "--user-id", org.user_id)
    assert "1 due reminder(s) wait, tenant disabled" in status.stderr
    db.run("UPDATE sync_metadata SET reminder_grace_hours = 0 WHERE user_id = :u", u=org.user_id)
    assert '"missed": {\n    "tenant disabled": 1' in zs("freshen", "--json").stdout
    row = reminder(db, invoice)
    assert row["status"] == "missed"
    assert row["cancel_reason"] == "not confirmed by Zoho within the grace: tenant disabled"
    assert "given up in the last 24 h" in zs("status", "--user-id", org.user_id).stderr


def test_a_tenant_needing_reauthorization_hands_out_nothing(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=2, invoices=0, country_code="GB")
    due_now(db, org)
    sync(org)
    org.control.revoke_refresh_token(org.refresh_token)
    org.control.expire_access_tokens()
    db.run("UPDATE zoho_connections SET access_token_expires_at = now() WHERE user_id = :u", u=org.user_id)
    age(db, org, 16 * 60)
    result = zs("freshen", "--user-id", org.user_id, "--json")
    assert '"outcome": "failed"' in result.stdout and "ZohoAuthError" in result.stdout
    assert claim(db, org) == []
    (waiting,) = deliveries.waiting(db, user_id=org.user_id)
    assert waiting.waiting_reason == "tenant needs re-authorization in Zoho"


def test_a_reminder_never_confirmed_since_the_migration_waits(db: Database, make_org: MakeOrg) -> None:
    """Data synced before confirmations existed (or never read by a whole pass) is not confirmed."""
    org = make_org(customers=2, invoices=0, country_code="GB")
    due_now(db, org)
    sync(org)
    db.run("UPDATE sync_metadata SET confirmed_at = NULL WHERE user_id = :u", u=org.user_id)
    assert claim(db, org) == []
    (waiting,) = deliveries.waiting(db, user_id=org.user_id)
    assert waiting.waiting_reason == "never confirmed by Zoho"


def test_an_invoice_deleted_in_zoho_is_read_by_id_before_its_reminder_goes(db: Database, make_org: MakeOrg) -> None:
    """A deletion shows in no list: the freshen reads the invoices about to be reminded by id."""
    org = make_org(customers=3, invoices=450, country_code="GB", open_share=1.0)  # an unpaid list of 3 pages
    _, invoice = due_now(db, org)
    sync(org)
    org.control.delete_invoice(org.organization_id, invoice)
    age(db, org, 16 * 60)
    before = org.control.books_calls(org.organization_id)
    zs("freshen", "--user-id", org.user_id)
    calls = org.control.books_calls(org.organization_id) - before
    assert reminder(db, invoice) == {
        **reminder(db, invoice),
        "status": "cancelled",
        "cancel_reason": "invoice deleted in Zoho",
    }
    assert claim(db, org) == []
    assert calls <= 3, calls  # contacts page, invoices page, the invoice by id: not the 3-page unpaid list


# ------------------------------------------------------------------------------ two senders, interleaved


@contextmanager
def claims_pause_when_asked(db: Database) -> Iterator[str]:
    """A session that sets `test.pause = on` stops inside its claim after the claim's statement took its
    snapshot and before it locks a row, until the test releases advisory lock 4242.

    The claim function runs as its owner; it is given to a plain role, whose reads of `reminders` pass a
    row-security policy that waits on that lock (a superuser would bypass the policy)."""
    role = f"claim_owner_{uuid.uuid4().hex[:8]}"
    setup = f"""
        CREATE ROLE {role} NOLOGIN;
        GRANT USAGE, CREATE ON SCHEMA reminder_sender TO {role};
        GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO {role};
        CREATE FUNCTION public.pause_when_asked() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            IF current_setting('test.pause', true) = 'on' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF;
            RETURN true;
        END $$;
        ALTER TABLE reminders ENABLE ROW LEVEL SECURITY;
        CREATE POLICY pause ON reminders TO {role} USING (public.pause_when_asked());
        ALTER FUNCTION reminder_sender.claim_due_reminders(text, integer, interval) OWNER TO {role};
    """
    db.execute_script(setup)
    try:
        yield role
    finally:
        db.execute_script(
            f"ALTER FUNCTION reminder_sender.claim_due_reminders(text, integer, interval) OWNER TO CURRENT_USER;"
            f"DROP POLICY pause ON reminders; ALTER TABLE reminders DISABLE ROW LEVEL SECURITY;"
            f"DROP OWNED BY {role}; DROP ROLE {role};"
        )


def _claim_paused(db_url: str, org: Org, out: list[list[deliveries.Delivery]]) -> None:
    own = connect(parse_database_url(db_url))
    try:
        own.run("SET test.pause = 'on'")
        out.append(deliveries.claim(own, user_id=org.user_id, limit=10, lease_seconds=60))
    finally:
        own.close()


def _wait_until_paused(db: Database) -> None:
    for _ in range(200):
        if db.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
        ):
            return
        time.sleep(0.05)
    raise AssertionError("the paused claim never reached its pause")


@pytest.mark.parametrize("meanwhile", ["a failure", "a move"])
def test_a_claim_never_hands_out_a_reminder_failed_or_moved_while_it_waited(
    db: Database, db_url: str, make_org: MakeOrg, meanwhile: str
) -> None:
    """Sender B's claim has taken its snapshot (the reminder due, unclaimed) and waits; meanwhile sender A
    claims it and reports a failure (backoff), or the sync moves it a week on. B must not hand it out."""
    org = make_org(customers=2, invoices=0, country_code="GB")
    _, invoice = due_now(db, org)
    sync(org)
    out: list[list[deliveries.Delivery]] = []
    with claims_pause_when_asked(db):
        db.run("SELECT pg_advisory_lock(4242)")
        sender_b = threading.Thread(target=_claim_paused, args=(db_url, org, out))
        sender_b.start()
        try:
            _wait_until_paused(db)
            if meanwhile == "a failure":
                (taken,) = claim(db, org)
                assert taken.claim_id is not None
                answer = deliveries.complete(
                    db, reminder_id=taken.reminder_id, claim_id=taken.claim_id, outcome="failed"
                )
                assert answer == "retry"
            else:
                org.control.advance_clock(2)
                org.control.update_invoice(
                    org.organization_id, invoice, due_date=(date.today() + timedelta(days=7)).isoformat()
                )
                sync(org)
                assert reminder(db, invoice)["scheduled_for"] > datetime.now(LONDON) + timedelta(days=5)
        finally:
            db.run("SELECT pg_advisory_unlock(4242)")
            sender_b.join(timeout=60)
    assert out == [[]], f"handed out during {meanwhile}: {out}"
    assert reminder(db, invoice)["status"] == "pending"


def test_the_freshen_function_skips_a_tenant_an_execution_holds_and_confirms_it_once_free(
    db: Database, make_org: MakeOrg
) -> None:
    """Through the Lambda handler: an execution in flight confirms its tenant itself."""
    from freshen.handler import lambda_handler as freshen_handler
    from zoho_sync_cli.lambda_context import LocalLambdaContext

    org = make_org(customers=2, invoices=0, country_code="GB")
    due_now(db, org)
    sync(org)
    age(db, org, 16 * 60)
    db.run("INSERT INTO tenant_leases (user_id, holder, step, expires_at) VALUES (:u, 'arn:exec:1', "
           "'invoice-sync', now() + interval '10 minutes')", u=org.user_id)  # fmt: skip
    held = freshen_handler({}, LocalLambdaContext("freshen"))
    assert held["counts"]["skipped"] == 1 and held["tenants"][0]["outcome"] == "skipped"
    assert claim(db, org) == []
    db.run("DELETE FROM tenant_leases WHERE user_id = :u", u=org.user_id)
    free = freshen_handler({"userIds": [org.user_id]}, LocalLambdaContext("freshen"))
    assert free["counts"]["confirmed"] == 1 and len(claim(db, org)) == 1
    with pytest.raises(Exception, match="userIds: expected a list"):
        freshen_handler({"userIds": "u1"}, LocalLambdaContext("freshen"))
