"""Reminders that follow Zoho's own settings, the schedule's edge cases, and the sender's contract."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from books_sync.db import Database, connect
from books_sync.storage import deliveries
from tests.support import MakeOrg, Org, call_step

ZOHO_PROFILES = ("observed", "documented")
LONDON = ZoneInfo("Europe/London")
PHONE = "+44 161 496 0000"


def sync(org: Org) -> dict[str, Any]:
    """The three steps in order; returns the reminders summary."""
    call_step("customer-sync", org)
    call_step("invoice-sync", org)
    return call_step("reminders", org)


def customer_with_invoice(org: Org, *, due: date, **invoice: Any) -> tuple[str, str]:
    customer = org.control.create_contact(
        org.organization_id, phone=PHONE, billing_country="United Kingdom", payment_reminder_enabled=True
    )
    made = org.control.create_invoice(org.organization_id, customer["contact_id"], due_date=due.isoformat(), **invoice)
    return customer["contact_id"], made["invoice_id"]


def reminder_rows(db: Database, zoho_invoice_id: str) -> dict[int, dict[str, Any]]:
    rows = db.rows(
        "SELECT r.offset_days, r.status, r.scheduled_for, r.cancel_reason FROM reminders AS r "
        "JOIN invoices_cache AS i ON i.id = r.invoice_id WHERE i.zoho_invoice_id = :z",
        z=zoho_invoice_id,
    )
    return {row["offset_days"]: row for row in rows}


def set_policy(db: Database, org: Org, **columns: Any) -> None:
    for column, value in columns.items():
        db.run(f"UPDATE sync_metadata SET reminder_{column} = :v WHERE user_id = :u", v=value, u=org.user_id)  # noqa: S608


def test_a_customer_who_turned_reminders_off_in_zoho_gets_none_until_turned_back_on(
    db: Database, make_org: MakeOrg
) -> None:
    org = make_org(customers=2, invoices=0, country_code="GB")
    customer, invoice = customer_with_invoice(org, due=date.today() + timedelta(days=20))
    assert sync(org)["created"] == 3
    org.control.advance_clock(2)  # an edit a moment later: Zoho marks the contact modified
    org.control.update_contact(org.organization_id, customer, payment_reminder_enabled=False)
    summary = sync(org)
    assert summary["cancelReasons"] == {"customer turned payment reminders off in Zoho": 3}
    assert summary["skippedRemindersOff"] == 1
    assert {row["status"] for row in reminder_rows(db, invoice).values()} == {"cancelled"}
    org.control.advance_clock(2)
    org.control.update_contact(org.organization_id, customer, payment_reminder_enabled=True)
    again = sync(org)
    assert (again["created"], again["reactivated"]) == (3, 3)
    assert {row["status"] for row in reminder_rows(db, invoice).values()} == {"pending"}


def test_a_weeks_old_detail_is_read_again_before_a_reminder_due_within_a_day(db: Database, make_org: MakeOrg) -> None:
    """Zoho does not say whether turning reminders off marks a contact modified: an old detail is
    checked again before a reminder it allows goes out."""
    org = make_org(customers=2, invoices=0, country_code="GB")
    soon = datetime.now(LONDON) + timedelta(hours=2)
    org.control.freeze_clock(True)  # every edit below keeps one modification time
    try:
        customer, invoice = customer_with_invoice(org, due=soon.date())
        set_policy(db, org, offsets_days=[0], local_hour=soon.hour)
        assert sync(org)["created"] == 1
        org.control.update_contact(org.organization_id, customer, payment_reminder_enabled=False)
        assert call_step("customer-sync", org)["updated"] == 0  # the list shows no change
        db.run(
            "UPDATE customers_cache SET detail_fetched_at = now() - interval '8 days' WHERE zoho_customer_id = :z",
            z=customer,
        )
        summary = sync(org)
    finally:
        org.control.freeze_clock(False)
    assert summary["cancelReasons"] == {"customer turned payment reminders off in Zoho": 1}
    assert reminder_rows(db, invoice)[0]["status"] == "cancelled"


def test_no_reminder_exists_before_the_customers_detail_is_read(db: Database, make_org: MakeOrg) -> None:
    """The payment-reminder setting is only in the detail: until it is read, nothing may be due."""
    org = make_org(customers=2, invoices=0, country_code="GB")
    _, invoice = customer_with_invoice(org, due=date.today() + timedelta(days=20))
    call_step("customer-sync", org)
    db.run("UPDATE zoho_connections SET daily_call_budget = 4 WHERE user_id = :u", u=org.user_id)  # no detail today
    details = call_step("invoice-sync", org)
    assert details["detailsFetched"] == 0 and details["detailsWaiting"] >= 1
    summary = call_step("reminders", org)
    assert summary["created"] == 0 and summary["waitingForCustomerDetail"] == 1
    assert reminder_rows(db, invoice) == {}


def test_the_expected_payment_date_is_the_basis_where_the_tenant_chooses_it(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=2, invoices=0, country_code="GB")
    due, promised = date.today() + timedelta(days=10), date.today() + timedelta(days=25)
    _, with_promise = customer_with_invoice(org, due=due, payment_expected_date=promised.isoformat())
    _, without = customer_with_invoice(org, due=due)
    set_policy(db, org, basis="expected_payment_date")
    sync(org)
    assert reminder_rows(db, with_promise)[0]["scheduled_for"].astimezone(LONDON).date() == promised
    assert reminder_rows(db, without)[0]["scheduled_for"].astimezone(LONDON).date() == due


def test_a_send_time_missed_by_less_than_the_grace_is_due_now(db: Database, make_org: MakeOrg) -> None:
    """An invoice created an hour after today's reminder time still gets today's reminder, due at once."""
    org = make_org(customers=2, invoices=0, country_code="GB")
    an_hour_ago = datetime.now(LONDON) - timedelta(hours=1)
    _, invoice = customer_with_invoice(org, due=an_hour_ago.date())
    set_policy(db, org, offsets_days=[0], local_hour=an_hour_ago.hour)
    assert sync(org)["created"] == 1
    due = deliveries.upcoming(db, user_id=org.user_id, before=None)
    assert [(d.zoho_invoice_id, d.offset_days, d.phone) for d in due] == [(invoice, 0, "+441614960000")]
    late = make_org(customers=2, invoices=0, country_code="GB")
    customer_with_invoice(late, due=an_hour_ago.date())
    set_policy(db, late, offsets_days=[0], local_hour=an_hour_ago.hour, grace_hours=0)
    assert sync(late)["created"] == 0


def test_an_invoice_that_stays_overdue_gets_repeats_where_the_tenant_asks(db: Database, make_org: MakeOrg) -> None:
    org = make_org(customers=2, invoices=0, country_code="GB")
    _, invoice = customer_with_invoice(org, due=date.today() - timedelta(days=8))
    assert sync(org)["created"] == 0  # -3, 0 and +7 have passed: by default nothing more
    set_policy(db, org, repeat_days=3, repeat_max=2)
    assert sync(org)["created"] == 2
    assert sorted(reminder_rows(db, invoice)) == [10, 13]


def test_an_invoice_deleted_in_zoho_stops_its_reminders_on_the_next_run_when_few_are_open(
    db: Database, make_org: MakeOrg
) -> None:
    org = make_org(customers=2, invoices=0, country_code="GB")
    _, invoice = customer_with_invoice(org, due=date.today() + timedelta(days=20))
    sync(org)
    org.control.delete_invoice(org.organization_id, invoice)
    assert sync(org)["cancelReasons"] == {"invoice deleted in Zoho": 3}
    gone = db.one(
        "SELECT invoice_deleted_at IS NOT NULL AS gone FROM invoices_with_customer WHERE zoho_invoice_id = :z",
        z=invoice,
    )
    assert gone == {"gone": True}  # readers of the old shape can tell


def due_count(db: Database, org: Org) -> int:
    return int(db.scalar("SELECT count(*) FROM due_reminders WHERE user_id = :u", u=org.user_id))


def overdue_org(db: Database, make_org: MakeOrg, invoices: int) -> Org:
    """`invoices` open invoices whose offset-0 reminder is an hour old: all due now."""
    org = make_org(customers=2, invoices=0, country_code="GB")
    an_hour_ago = datetime.now(LONDON) - timedelta(hours=1)
    for _ in range(invoices):
        customer_with_invoice(org, due=an_hour_ago.date())
    set_policy(db, org, offsets_days=[0], local_hour=an_hour_ago.hour)
    sync(org)
    assert due_count(db, org) == invoices
    return org


def test_two_senders_at_once_send_each_reminder_once_and_lose_none(db: Database, make_org: MakeOrg) -> None:
    org = overdue_org(db, make_org, invoices=40)
    sent: list[str] = []
    errors: list[BaseException] = []

    def sender() -> None:
        own = connect(db.params)
        try:
            while claimed := deliveries.claim(own, user_id=org.user_id, limit=3, lease_seconds=60):
                for delivery in claimed:
                    assert delivery.claim_id is not None
                    sent.append(delivery.reminder_id)
                    outcome = deliveries.complete(
                        own, reminder_id=delivery.reminder_id, claim_id=delivery.claim_id, outcome="sent"
                    )
                    assert outcome == "sent"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(sent) == len(set(sent)) == 40
    assert db.scalar("SELECT count(*) FROM reminders WHERE user_id = :u AND status = 'sent'", u=org.user_id) == 40
    assert due_count(db, org) == 0
    assert sync(org)["created"] == 0  # the sync never touches a sent reminder


def test_a_lease_that_ends_hands_the_reminder_out_again(db: Database, make_org: MakeOrg) -> None:
    org = overdue_org(db, make_org, invoices=1)
    first = deliveries.claim(db, user_id=org.user_id, limit=5, lease_seconds=60)
    assert len(first) == 1 and deliveries.claim(db, user_id=org.user_id, limit=5, lease_seconds=60) == []
    db.run("UPDATE reminders SET claimed_until = now() - interval '1 second' WHERE user_id = :u", u=org.user_id)
    second = deliveries.claim(db, user_id=org.user_id, limit=5, lease_seconds=60)
    assert [d.reminder_id for d in second] == [first[0].reminder_id]  # the same id: the idempotency key
    assert first[0].claim_id is not None and second[0].claim_id is not None
    stale = deliveries.complete(db, reminder_id=first[0].reminder_id, claim_id=first[0].claim_id, outcome="sent")
    assert stale == "not claimed"
    done = deliveries.complete(db, reminder_id=second[0].reminder_id, claim_id=second[0].claim_id, outcome="sent")
    assert done == "sent"


def test_a_failed_send_is_retried_with_backoff_then_given_up(db: Database, make_org: MakeOrg) -> None:
    org = overdue_org(db, make_org, invoices=1)
    for attempt in (1, 2, 3):
        claimed = deliveries.claim(db, user_id=org.user_id, limit=1, lease_seconds=60)
        assert len(claimed) == 1 and claimed[0].claim_id is not None
        outcome = deliveries.complete(
            db, reminder_id=claimed[0].reminder_id, claim_id=claimed[0].claim_id, outcome="failed", error="busy"
        )
        assert outcome == ("retry" if attempt < 3 else "failed")
        assert due_count(db, org) == 0  # it waits for its next attempt
        db.run("UPDATE reminders SET next_attempt_at = now() WHERE user_id = :u", u=org.user_id)
    row = db.one("SELECT status, attempts, last_error FROM reminders WHERE user_id = :u", u=org.user_id)
    assert row == {"status": "failed", "attempts": 3, "last_error": "busy"}


def test_a_claimed_reminder_whose_invoice_is_paid_is_cancelled_and_its_completion_says_so(
    db: Database, make_org: MakeOrg
) -> None:
    org = overdue_org(db, make_org, invoices=1)
    claimed = deliveries.claim(db, user_id=org.user_id, limit=1, lease_seconds=60)
    invoice = claimed[0].zoho_invoice_id
    org.control.pay_invoice(org.organization_id, invoice)
    assert sync(org)["cancelReasons"] == {"invoice paid": 1}
    assert claimed[0].claim_id is not None
    answer = deliveries.complete(db, reminder_id=claimed[0].reminder_id, claim_id=claimed[0].claim_id, outcome="sent")
    assert answer == "cancelled"
