from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from books_sync.records.schedule import ReminderPolicy, plan, zone

NO_GRACE = timedelta(0)


def test_local_morning_hour_in_the_customers_timezone() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    planned = plan(date(2026, 3, 10), ReminderPolicy(), ZoneInfo("Asia/Kolkata"), now)
    assert [p.offset_days for p in planned] == [-3, 0, 7]
    assert [p.scheduled_for for p in planned] == [
        datetime(2026, 3, 7, 3, 30, tzinfo=UTC),
        datetime(2026, 3, 10, 3, 30, tzinfo=UTC),
        datetime(2026, 3, 17, 3, 30, tzinfo=UTC),
    ]
    assert not any(p.past for p in planned)


def test_daylight_saving_keeps_the_local_hour() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    winter, summer = (
        plan(d, ReminderPolicy(offsets_days=(0,)), ZoneInfo("America/New_York"), now)[0]
        for d in (date(2026, 1, 5), date(2026, 7, 6))
    )
    assert (winter.scheduled_for.hour, summer.scheduled_for.hour) == (14, 13)


def test_past_offsets_are_marked_and_duplicates_collapse() -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    planned = plan(date(2026, 3, 10), ReminderPolicy(offsets_days=(7, 0, -3, 0), grace=NO_GRACE), UTC, now)
    assert [(p.offset_days, p.past) for p in planned] == [(-3, True), (0, True), (7, False)]


def test_a_send_time_missed_by_less_than_the_grace_is_still_sent() -> None:
    """An invoice created at 10:00 and due today still gets today's 09:00 reminder (due now)."""
    now = datetime(2026, 3, 10, 10, tzinfo=UTC)
    planned = plan(date(2026, 3, 10), ReminderPolicy(offsets_days=(0,)), UTC, now)
    assert [(p.offset_days, p.past) for p in planned] == [(0, False)]
    later = plan(date(2026, 3, 10), ReminderPolicy(offsets_days=(0,)), UTC, now + timedelta(hours=12))
    assert [(p.offset_days, p.past) for p in later] == [(0, True)]


def test_overdue_repeats_follow_the_last_offset_and_stop_at_thirty() -> None:
    assert ReminderPolicy(repeat_every_days=5, repeat_max=3).all_offsets() == (-3, 0, 7, 12, 17, 22)
    assert len(ReminderPolicy(repeat_every_days=1, repeat_max=27).all_offsets()) == 30
    assert ReminderPolicy(repeat_every_days=5).all_offsets() == (-3, 0, 7)  # off unless a count is set


def test_the_basis_is_the_promised_date_where_the_tenant_chooses_it_and_there_is_one() -> None:
    due, promised = date(2026, 3, 10), date(2026, 3, 20)
    assert ReminderPolicy().basis_date(due, promised) == due
    chosen = ReminderPolicy(basis="expected_payment_date")
    assert (chosen.basis_date(due, promised), chosen.basis_date(due, None)) == (promised, due)


def test_a_basis_at_the_end_of_the_calendar_drops_the_offsets_beyond_it() -> None:
    planned = plan(date(9999, 12, 30), ReminderPolicy(), UTC, datetime(2026, 1, 1, tzinfo=UTC))
    assert [p.offset_days for p in planned] == [-3, 0]


def test_zone_falls_back_to_the_next_usable_name_then_utc() -> None:
    assert zone(None, "Europe/Paris") == ZoneInfo("Europe/Paris")
    assert zone("Not/AZone", "", "Asia/Tokyo") == ZoneInfo("Asia/Tokyo")
    assert zone("../etc/passwd") is UTC
    assert zone() is UTC
