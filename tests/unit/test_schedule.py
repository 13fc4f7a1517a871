from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from reminders.schedule import plan, zone


def test_local_morning_hour_in_the_customers_timezone() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    planned = plan(date(2026, 3, 10), (-3, 0, 7), 9, ZoneInfo("Asia/Kolkata"), now)
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
        plan(d, (0,), 9, ZoneInfo("America/New_York"), now)[0] for d in (date(2026, 1, 5), date(2026, 7, 6))
    )
    assert (winter.scheduled_for.hour, summer.scheduled_for.hour) == (14, 13)


def test_past_offsets_are_marked_and_duplicates_collapse() -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    planned = plan(date(2026, 3, 10), (7, 0, -3, 0), 9, UTC, now)
    assert [(p.offset_days, p.past) for p in planned] == [(-3, True), (0, True), (7, False)]


def test_zone_falls_back_to_the_next_usable_name_then_utc() -> None:
    assert zone(None, "Europe/Paris") == ZoneInfo("Europe/Paris")
    assert zone("Not/AZone", "", "Asia/Tokyo") == ZoneInfo("Asia/Tokyo")
    assert zone("../etc/passwd") is UTC
    assert zone() is UTC
