"""Reminders end to end: customers and invoices synced from the emulator, then the reminders step."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from books_sync.db import Database, connect
from books_sync.records.schedule import ReminderPolicy
from books_sync.steps.reminders import refresh_reminders
from customer_sync.handler import lambda_handler as customer_handler
from invoice_sync.handler import lambda_handler as invoice_handler
from reminders.handler import lambda_handler as reminders_handler
from tests.support import MakeOrg, Org, call_step, eventually
from zoho_sync_cli.lambda_context import LocalLambdaContext

ZOHO_PROFILES = ("observed", "documented")  # Zoho as documented, and as seen

PHONE = "+44 20 7946 0958"
NO_PHONE: dict[str, Any] = {
    "contact_persons": [{"first_name": "Ann", "is_primary_contact": True, "phone": "", "mobile": ""}],
    "phone": "",
    "mobile": "",
}


def sync(org: Org) -> dict[str, Any]:
    """The three steps in order, as the state machine runs them; returns the reminders summary."""
    call_step("customer-sync", org)
    call_step("invoice-sync", org)
    return call_step("reminders", org)


def reminders(db: Database, zoho_invoice_id: str) -> dict[int, dict[str, Any]]:
    rows = db.rows(
        "SELECT r.offset_days, r.status, r.scheduled_for, r.cancel_reason, r.id FROM reminders AS r "
        "JOIN invoices_cache AS i ON i.id = r.invoice_id WHERE i.zoho_invoice_id = :z",
        z=zoho_invoice_id,
    )
    return {row["offset_days"]: row for row in rows}


def setup(make_org: MakeOrg, *, phone: bool = True, due_in_days: int = 30) -> tuple[Org, str, str]:
    org = make_org(customers=3, invoices=0, country_code="GB")
    fields = {"phone": PHONE, "billing_country": "United Kingdom"} if phone else NO_PHONE
    customer = org.control.create_contact(org.organization_id, **fields)
    due = (date.today() + timedelta(days=due_in_days)).isoformat()
    invoice = org.control.create_invoice(org.organization_id, customer["contact_id"], due_date=due)
    return org, customer["contact_id"], invoice["invoice_id"]


def test_open_invoice_gets_one_reminder_per_offset_at_the_local_morning_hour(db: Database, make_org: MakeOrg) -> None:
    org, _, invoice = setup(make_org)
    summary = sync(org)
    assert summary["created"] == 3
    made = reminders(db, invoice)
    assert sorted(made) == [-3, 0, 7]
    due = date.today() + timedelta(days=30)
    for offset, row in made.items():
        local = row["scheduled_for"].astimezone(ZoneInfo("Europe/London"))
        assert (local.date(), local.hour, local.minute) == (due + timedelta(days=offset), 9, 0)
        assert row["status"] == "pending"
    again = sync(org)
    assert (again["created"], again["cancelled"], again["rescheduled"]) == (0, 0, 0)
    assert db.scalar("SELECT count(*) FROM reminders WHERE user_id = :u", u=org.user_id) == 3


def test_offsets_already_past_get_no_reminder(db: Database, make_org: MakeOrg) -> None:
    org, _, invoice = setup(make_org, due_in_days=-1)  # overdue since yesterday: only +7 is ahead
    sync(org)
    assert sorted(reminders(db, invoice)) == [7]


def test_customer_without_phone_gets_no_reminders_until_a_phone_is_added(db: Database, make_org: MakeOrg) -> None:
    org, customer, invoice = setup(make_org, phone=False)
    summary = sync(org)
    assert db.scalar("SELECT count(*) FROM invoices_cache WHERE zoho_invoice_id = :z", z=invoice) == 1
    assert reminders(db, invoice) == {}
    assert summary["skippedNoPhone"] >= 1
    org.control.update_contact(org.organization_id, customer, phone=PHONE, billing_country="United Kingdom")
    summary = sync(org)
    assert summary["created"] == 3
    assert sorted(reminders(db, invoice)) == [-3, 0, 7]


def test_phone_change_keeps_the_reminders_and_reaches_them_through_the_view(db: Database, make_org: MakeOrg) -> None:
    org, customer, invoice = setup(make_org)
    sync(org)
    before = {offset: row["id"] for offset, row in reminders(db, invoice).items()}
    org.control.update_contact(org.organization_id, customer, phone="+44 161 496 0000")
    summary = sync(org)
    assert (summary["created"], summary["cancelled"]) == (0, 0)
    assert {offset: row["id"] for offset, row in reminders(db, invoice).items()} == before
    view = db.one(
        "SELECT customer_phone, customer_timezone FROM invoices_with_customer WHERE zoho_invoice_id = :z", z=invoice
    )
    assert view is not None
    assert view["customer_phone"] == "+441614960000"
    assert view["customer_timezone"] == "Europe/London"


def test_paid_invoice_cancels_pending_reminders(db: Database, make_org: MakeOrg) -> None:
    org, _, invoice = setup(make_org)
    sync(org)
    org.control.pay_invoice(org.organization_id, invoice)
    summary = sync(org)
    assert summary["cancelled"] == 3
    assert summary["cancelReasons"] == {"invoice paid": 3}
    assert {row["status"] for row in reminders(db, invoice).values()} == {"cancelled"}


def test_due_date_moved_reschedules_pending_reminders(db: Database, make_org: MakeOrg) -> None:
    org, _, invoice = setup(make_org)
    sync(org)
    before = reminders(db, invoice)
    new_due = (date.today() + timedelta(days=40)).isoformat()
    org.control.update_invoice(org.organization_id, invoice, due_date=new_due)
    summary = sync(org)
    assert (summary["rescheduled"], summary["created"], summary["cancelled"]) == (3, 0, 0)
    after = reminders(db, invoice)
    for offset in (-3, 0, 7):
        assert after[offset]["id"] == before[offset]["id"]
        assert after[offset]["scheduled_for"] - before[offset]["scheduled_for"] == timedelta(days=10)


def test_customer_deleted_or_losing_its_phone_cancels(db: Database, make_org: MakeOrg) -> None:
    org, customer, invoice = setup(make_org)
    other_org, other_customer, other_invoice = setup(make_org)
    sync(org)
    sync(other_org)
    org.control.delete_contact(org.organization_id, customer)
    customer_handler({"userId": org.user_id, "fullResync": True}, LocalLambdaContext("customer-sync"))
    assert sync(org)["cancelReasons"] == {"customer deleted in Zoho": 3}
    assert {row["cancel_reason"] for row in reminders(db, invoice).values()} == {"customer deleted in Zoho"}
    other_org.control.update_contact(other_org.organization_id, other_customer, **NO_PHONE)
    assert sync(other_org)["cancelReasons"] == {"customer has no phone": 3}
    assert {row["status"] for row in reminders(db, other_invoice).values()} == {"cancelled"}


def test_manual_override_gives_a_phone(db: Database, make_org: MakeOrg) -> None:
    org, customer, _ = setup(make_org, phone=False)
    sync(org)
    db.run(
        "UPDATE customers_cache SET phone_override = '+442079460000' WHERE user_id = :u AND zoho_customer_id = :z",
        u=org.user_id,
        z=customer,
    )
    assert dict(reminders_handler({"userId": org.user_id}, LocalLambdaContext("reminders")))["created"] == 3


def test_concurrent_runs_create_no_duplicates(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=40, invoices=300, seed=5)
    customer_handler({"userId": org.user_id}, LocalLambdaContext("customer-sync"))
    invoice_handler({"userId": org.user_id}, LocalLambdaContext("invoice-sync"))
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(dict(reminders_handler({"userId": org.user_id}, LocalLambdaContext("reminders"))))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    started = datetime.now(UTC)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    statuses = sorted(r["status"] for r in results)
    created = sorted(r.get("created", 0) for r in results)
    # The second skipped (the first held the tenant's lease), or came after it and found nothing to do.
    assert statuses in (["ok", "skipped"], ["ok", "ok"]) and created[0] == 0 and created[1] > 0
    duplicates = db.scalar(
        "SELECT count(*) FROM (SELECT invoice_id, offset_days FROM reminders WHERE user_id = :u "
        "GROUP BY 1, 2 HAVING count(*) > 1) AS d",
        u=org.user_id,
    )
    assert duplicates == 0
    # Nothing missed by more than the grace period was created (one missed by less is due now).
    missed = started - ReminderPolicy().grace
    assert (
        db.scalar(
            "SELECT count(*) FROM reminders WHERE user_id = :u AND status = 'pending' AND scheduled_for <= :missed",
            u=org.user_id,
            missed=missed,
        )
        == 0
    )


def test_two_refreshes_of_one_tenant_outside_the_handler_wait_for_each_other(db: Database, make_org: MakeOrg) -> None:
    """Without the handler's lease (two callers of the engine), a lock that ends with the transaction
    orders them: no duplicate, and the second finds nothing to do."""
    org = make_org(customers=40, invoices=300, seed=5)
    customer_handler({"userId": org.user_id}, LocalLambdaContext("customer-sync"))
    invoice_handler({"userId": org.user_id}, LocalLambdaContext("invoice-sync"))
    tenant = org.tenant(db)
    created: list[int] = []

    def refresh() -> None:
        own = connect(db.params)
        try:
            created.append(refresh_reminders(own, tenant).created)
        finally:
            own.close()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(created)[0] == 0 and sorted(created)[1] > 0
    assert db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0


def test_second_connection_sees_each_invoice_with_its_current_customer(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=10, invoices=40)
    sync(org)
    reader = connect(db.params)
    try:
        rows = reader.rows(
            "SELECT v.customer_name, v.customer_phone, c.customer_name AS name, "
            "coalesce(c.phone_override, c.primary_phone) AS phone FROM invoices_with_customer AS v "
            "JOIN customers_cache AS c ON c.id = v.customer_id WHERE v.user_id = :u",
            u=org.user_id,
        )
    finally:
        reader.close()
    assert len(rows) == db.scalar("SELECT count(*) FROM invoices_cache WHERE user_id = :u", u=org.user_id) > 0
    assert all((r["customer_name"], r["customer_phone"]) == (r["name"], r["phone"]) for r in rows)


def test_planning_in_chunks_gives_the_same_schedule_as_planning_at_once(
    db: Database, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28: the open invoices are planned a chunk at a time (memory flat at 100,000 customers: 509 MB of
    RSS before). Two twins of one organization, one planned 7 invoices at a time: the same reminders, created,
    moved and cancelled (with the same reasons) across chunk boundaries."""
    from books_sync.storage import reminders as reminder_store

    twins = [make_org(customers=20, invoices=60, seed=77, open_share=0.9) for _ in range(2)]

    def schedule(org: Org) -> list[tuple[Any, ...]]:
        rows = db.run(
            "SELECT i.invoice_number, r.offset_days, r.scheduled_for, r.status, r.cancel_reason FROM reminders r "
            "JOIN invoices_cache i ON i.id = r.invoice_id WHERE r.user_id = :u ORDER BY 1, 2",
            u=org.user_id,
        )
        return [tuple(row) for row in rows]

    def run_both() -> None:
        for org, chunk in zip(twins, (7, reminder_store.CHUNK), strict=True):
            monkeypatch.setattr(reminder_store, "CHUNK", chunk)
            sync(org)

    run_both()
    assert schedule(twins[0]) == schedule(twins[1]) and len(schedule(twins[0])) > 20
    paid = list(dict.fromkeys(row[0] for row in schedule(twins[0]) if row[3] == "pending"))[::3]
    for org in twins:
        for number in paid:
            zoho_invoice_id = db.scalar("SELECT zoho_invoice_id FROM invoices_cache WHERE user_id = :u AND "
                                        "invoice_number = :n", u=org.user_id, n=number)  # fmt: skip
            org.control.pay_invoice(org.organization_id, zoho_invoice_id)
    run_both()
    after = schedule(twins[0])
    assert after == schedule(twins[1]) and any(row[4] == "invoice paid" for row in after)


def test_nothing_changed_nothing_planned_again_but_any_input_changed_is(db: Database, make_org: MakeOrg) -> None:
    """Issue 28: a quiet run at 100,000 customers spent 9.6 s planning unchanged invoices again. The step now plans
    only when an input changed since (triggers stamp the writing transaction, whatever writes it: an operator's
    UPDATE too), the settings changed, or 6 hours passed; and then it plans everything."""
    org = make_org(customers=20, invoices=60, seed=78, open_share=0.9)
    sync(org)
    assert call_step("reminders", org)["planUnchanged"] == 1  # nothing changed since the sync's own plan
    without_phone = db.scalar(
        "SELECT c.zoho_customer_id FROM customers_cache c JOIN open_invoices i ON i.customer_id = c.id "
        "WHERE c.user_id = :u AND c.primary_phone IS NULL AND c.detail_hash = c.sync_hash "
        "AND c.payment_reminder_enabled IS NOT FALSE LIMIT 1",
        u=org.user_id,
    )
    assert without_phone, "the organization has an open invoice of a customer without a phone"
    db.run("UPDATE customers_cache SET phone_override = '+442079460001' WHERE user_id = :u AND zoho_customer_id = :z",
           u=org.user_id, z=without_phone)  # fmt: skip
    replanned = call_step("reminders", org)
    assert replanned["planUnchanged"] == 0 and replanned["created"] > 0  # the override's reminders, at once
    assert call_step("reminders", org)["planUnchanged"] == 1
    db.run("UPDATE customers_cache SET detail_retry_at = now() WHERE user_id = :u", u=org.user_id)  # not an input
    assert call_step("reminders", org)["planUnchanged"] == 1
    db.run("UPDATE sync_metadata SET reminder_local_hour = 11 WHERE user_id = :u", u=org.user_id)
    moved = call_step("reminders", org)
    assert moved["planUnchanged"] == 0 and moved["rescheduled"] > 0  # the settings changed: everything moves
    db.run("UPDATE sync_metadata SET reminders_planned_at = now() - interval '7 hours' WHERE user_id = :u",
           u=org.user_id)  # fmt: skip
    assert call_step("reminders", org)["planUnchanged"] == 0  # planned again every 6 hours whatever happened


def test_a_change_committed_while_the_plan_ran_is_planned_next_time(db: Database, make_org: MakeOrg) -> None:
    """A writer whose transaction was open when the plan began (its change unseen by the plan) makes the next
    run plan again: the plan keeps the oldest transaction then running, and every change stamps its own."""
    org = make_org(customers=20, invoices=60, seed=79, open_share=0.9)
    sync(org)
    writer = connect(db.params)
    try:
        writer.run("BEGIN")
        writer.run("UPDATE invoices_cache SET balance = 0 WHERE user_id = :u AND id = (SELECT i.id FROM "
                   "reminders r JOIN invoices_cache i ON i.id = r.invoice_id WHERE r.user_id = :u AND "
                   "r.status = 'pending' LIMIT 1)", u=org.user_id)  # fmt: skip
        db.run("UPDATE sync_metadata SET reminders_planned_at = NULL WHERE user_id = :u", u=org.user_id)
        assert call_step("reminders", org)["planUnchanged"] == 0  # plans while the writer is open
        writer.run("COMMIT")
    finally:
        writer.close()
    paid = call_step("reminders", org)
    assert paid["planUnchanged"] == 0 and paid["cancelReasons"] == {"invoice paid": paid["cancelled"]}
    assert paid["cancelled"] > 0


def sender_completes_while(db: Database, db_url: str, invoice: str, step: Callable[[Database], object]) -> object:
    """`step` runs on its own connection while a sender's transaction holds the invoice's reminder, marked
    sent; once `step` is seen waiting for that lock, the sender commits. Returns what `step` returned."""
    from books_sync.db import parse_database_url

    sender, stepping = connect(parse_database_url(db_url)), connect(parse_database_url(db_url))
    returned: list[object] = []
    try:
        sender.run("BEGIN")
        sender.run("UPDATE reminders SET status = 'sent' WHERE invoice_id = CAST(:i AS uuid)", i=invoice)
        worker = threading.Thread(target=lambda: returned.append(step(stepping)))
        worker.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'transactionid'"
        )
        eventually(lambda: db.scalar(waiting) > 0, seconds=10)  # the step waits for the sender's lock
        assert db.scalar(waiting) == 1
        sender.run("COMMIT")
        worker.join(10)
    finally:
        sender.close()
        stepping.close()
    assert db.scalar("SELECT status FROM reminders WHERE invoice_id = CAST(:i AS uuid)", i=invoice) == "sent"
    return returned[0]


def race_tenant(db: Database) -> str:
    """A tenant with two invoices, each with a pending reminder; the first one's id."""
    from tests.plans import add_stale_tenant

    db.run("INSERT INTO users (id) VALUES ('race')")
    add_stale_tenant(db, "race", 2, 2)
    return str(db.scalar("SELECT id::text FROM invoices_cache WHERE user_id = 'race' AND zoho_invoice_id = 'i1'"))


def test_a_reminder_a_sender_completes_while_a_chunk_is_cancelled_stays_sent(db: Database, db_url: str) -> None:
    """The cancellation finds a pending reminder of a deleted customer, then waits for its row lock while a
    sender marks it sent: once the lock is had, the reminder is no longer pending and stays sent (an
    UPDATE that did not look again cancelled it)."""
    from books_sync.storage import reminders as stored

    invoice = race_tenant(db)
    db.run("UPDATE customers_cache SET deleted_at = now() WHERE id = (SELECT customer_id FROM invoices_cache "
           "WHERE id = CAST(:i AS uuid))", i=invoice)  # fmt: skip
    cancel = sender_completes_while(
        db, db_url, invoice, lambda step: stored.cancel_unwanted(step, "race", [], "due_date", [invoice])
    )
    assert cancel == {}


def test_a_reminder_a_sender_completes_while_its_time_moves_stays_sent(db: Database, db_url: str) -> None:
    """The same race when the due date moved: the plan read the reminder pending and moves it; a reminder
    the sender completed meanwhile is not made pending again at the new time (it would go out twice)."""
    from books_sync.storage import reminders as stored

    invoice = race_tenant(db)
    moved = [stored.Wanted(invoice, 0, datetime.now(UTC) + timedelta(days=9), past=False)]
    applied = sender_completes_while(db, db_url, invoice, lambda step: stored.apply(step, "race", moved))
    assert applied == stored.Applied()
