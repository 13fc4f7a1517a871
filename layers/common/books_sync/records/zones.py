"""IANA time zones from what Zoho and phone numbers tell: pure rules shared by customers and organizations."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezones

# Countries spanning several zones: a country alone does not tell which (phonenumbers' example
# number for the US says New York, which is wrong for a business in California).
_MULTI_ZONE = frozenset({
    "US", "CA", "MX", "BR", "AR", "RU", "AU", "ID", "KZ", "MN", "CD", "CL", "EC",
    "ES", "PT", "GL", "KI", "FM", "PF", "NZ", "UA", "UZ", "AQ", "UM", "PG", "MY",
})  # fmt: skip

# An abbreviation means different zones in different countries: (abbreviation, country) first,
# then the abbreviation alone (the most common reading).
_ZONES_BY_COUNTRY: dict[tuple[str, str], str] = {
    ("PST", "CA"): "America/Vancouver", ("MST", "CA"): "America/Edmonton", ("CST", "CA"): "America/Winnipeg",
    ("EST", "CA"): "America/Toronto", ("AST", "CA"): "America/Halifax", ("NST", "CA"): "America/St_Johns",
    ("PST", "MX"): "America/Tijuana", ("MST", "MX"): "America/Mazatlan", ("CST", "MX"): "America/Mexico_City",
    ("CST", "CN"): "Asia/Shanghai", ("CST", "TW"): "Asia/Taipei", ("CST", "CU"): "America/Havana",
    ("IST", "IE"): "Europe/Dublin", ("IST", "IL"): "Asia/Jerusalem", ("GMT", "IE"): "Europe/Dublin",
    ("AST", "SA"): "Asia/Riyadh", ("AST", "KW"): "Asia/Kuwait", ("AST", "QA"): "Asia/Qatar",
    ("AST", "BH"): "Asia/Bahrain", ("GST", "AE"): "Asia/Dubai", ("GST", "OM"): "Asia/Muscat",
    ("CET", "FR"): "Europe/Paris", ("CET", "ES"): "Europe/Madrid", ("CET", "IT"): "Europe/Rome",
    ("CET", "NL"): "Europe/Amsterdam", ("CET", "BE"): "Europe/Brussels", ("CET", "CH"): "Europe/Zurich",
    ("CET", "AT"): "Europe/Vienna", ("CET", "SE"): "Europe/Stockholm", ("CET", "PL"): "Europe/Warsaw",
    ("AEST", "AU"): "Australia/Sydney", ("ACST", "AU"): "Australia/Adelaide", ("AWST", "AU"): "Australia/Perth",
    ("BST", "BD"): "Asia/Dhaka",
}  # fmt: skip
_ZONES: dict[str, str] = {
    "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles", "MST": "America/Denver", "MDT": "America/Denver",
    "CST": "America/Chicago", "CDT": "America/Chicago", "EST": "America/New_York", "EDT": "America/New_York",
    "AKST": "America/Anchorage", "HST": "Pacific/Honolulu", "AST": "America/Halifax", "NST": "America/St_Johns",
    "IST": "Asia/Kolkata", "GMT": "Europe/London", "BST": "Europe/London", "WET": "Europe/Lisbon",
    "CET": "Europe/Berlin", "CEST": "Europe/Berlin", "EET": "Europe/Athens", "MSK": "Europe/Moscow",
    "GST": "Asia/Dubai", "PKT": "Asia/Karachi", "NPT": "Asia/Kathmandu", "ICT": "Asia/Bangkok",
    "WIB": "Asia/Jakarta", "SGT": "Asia/Singapore", "MYT": "Asia/Kuala_Lumpur", "PHT": "Asia/Manila",
    "HKT": "Asia/Hong_Kong", "JST": "Asia/Tokyo", "KST": "Asia/Seoul", "AEST": "Australia/Sydney",
    "ACST": "Australia/Adelaide", "AWST": "Australia/Perth", "NZST": "Pacific/Auckland",
    "SAST": "Africa/Johannesburg", "WAT": "Africa/Lagos", "EAT": "Africa/Nairobi", "CAT": "Africa/Maputo",
    "BRT": "America/Sao_Paulo", "ART": "America/Argentina/Buenos_Aires", "UTC": "UTC",
}  # fmt: skip


def valid_timezone(name: str | None) -> str | None:
    """An IANA zone name Postgres and Python both know, or None ('PST'-style abbreviations are not)."""
    if not name or "/" not in name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


# phonenumbers still names some zones by their old IANA names; the current ones are stored.
_CURRENT_NAMES = {
    "Asia/Calcutta": "Asia/Kolkata", "Asia/Saigon": "Asia/Ho_Chi_Minh", "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon", "Europe/Kiev": "Europe/Kyiv", "Atlantic/Faeroe": "Atlantic/Faroe",
}  # fmt: skip


@lru_cache(maxsize=256)
def only_zone_of(country_code: str) -> str | None:
    """The country's zone when it has exactly one (India, Germany...), else None (the US, Australia...)."""
    if country_code in _MULTI_ZONE:
        return None
    example = phonenumbers.example_number(country_code)
    if example is None:
        return None
    zones = [zone for zone in phone_timezones.time_zones_for_number(example) if zone != "Etc/Unknown"]
    return _CURRENT_NAMES.get(zones[0], zones[0]) if len(zones) == 1 else None


def zone_from(raw: str | None, country_code: str | None) -> str | None:
    """An IANA zone from what Zoho says (an IANA name, or an abbreviation read with the country)."""
    named = valid_timezone(raw)
    if named or not raw:
        return named or (only_zone_of(country_code) if country_code else None)
    abbreviation = raw.strip().upper()
    if country_code and (abbreviation, country_code) in _ZONES_BY_COUNTRY:
        return _ZONES_BY_COUNTRY[(abbreviation, country_code)]
    if country_code and only_zone_of(country_code):
        return only_zone_of(country_code)
    return _ZONES.get(abbreviation)
