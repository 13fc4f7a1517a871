"""Which phone number a Zoho contact is reached at, in E.164, and which timezone that puts it in.

Pure functions (no I/O), so the rules are easy to test one by one:

- The primary person is the first with `is_primary_contact: true`, else the first person.
- Candidates, in order: the primary's mobile, its phone; then each other person's mobile and phone;
  then the contact-level mobile and phone. The first candidate that is a valid number wins, so a
  garbage primary mobile ("call after 6pm") does not hide a valid landline.
- Numbers are parsed with the contact's billing country, then the organization's country; numbers
  written with a leading + need neither. No valid candidate → no phone, with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers
from phonenumbers import timezone as phone_timezones

from books_sync.records.regions import zone_of_region
from books_sync.records.zones import only_zone_of

_UNKNOWN_ZONE = "Etc/Unknown"
_MAX_RAW_LENGTH = 64


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def primary_person(persons: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    listed = list(persons)
    for person in listed:
        if person.get("is_primary_contact") is True:
            return person
    return listed[0] if listed else None


def phone_candidates(contact: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any] | None]]:
    """(where it came from, raw value, the person it belongs to) in the order the rule tries them."""
    persons = [p for p in contact.get("contact_persons") or [] if isinstance(p, Mapping)]
    primary = primary_person(persons)
    ordered = ([primary] if primary is not None else []) + [p for p in persons if p is not primary]
    candidates: list[tuple[str, str, Mapping[str, Any] | None]] = []
    for index, person in enumerate(ordered):
        who = "primary person" if index == 0 else "other person"
        for field in ("mobile", "phone"):
            raw = _text(person.get(field))
            if raw:
                candidates.append((f"{who} {field}", raw, person))
    for field in ("mobile", "phone"):
        raw = _text(contact.get(field))
        if raw:
            candidates.append((f"contact {field}", raw, None))
    return candidates


def normalize(raw: str, regions: Iterable[str | None]) -> phonenumbers.PhoneNumber | None:
    """A valid number parsed from `raw`, trying each region in turn; None if it is not one."""
    if len(raw) > _MAX_RAW_LENGTH:
        return None
    tried: list[str | None] = [r for r in regions if r] or [None]
    if raw.lstrip().startswith("+"):
        tried = [None, *tried]
    for region in dict.fromkeys(tried):
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    return None


@dataclass(frozen=True)
class PhoneChoice:
    e164: str | None
    region: str | None  # the number's own country
    source: str | None  # e.g. "primary person mobile"
    problem: str | None  # why there is no phone, for the log (never the number itself)
    rejected: int = 0  # candidates that were not valid numbers
    person: Mapping[str, Any] | None = None  # the contact person whose number it is (None: the contact's own)


def choose_phone(contact: Mapping[str, Any], billing_country: str | None, org_country: str | None) -> PhoneChoice:
    candidates = phone_candidates(contact)
    rejected = 0
    for source, raw, person in candidates:
        number = normalize(raw, (billing_country, org_country))
        if number is not None:
            return PhoneChoice(
                e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                region=phonenumbers.region_code_for_number(number),
                source=source,
                problem=None,
                rejected=rejected,
                person=person,
            )
        rejected += 1
    if not candidates:
        return PhoneChoice(None, None, None, "no phone or mobile on the contact or its persons")
    return PhoneChoice(None, None, None, f"{len(candidates)} number(s) present, none valid", rejected)


def timezone_for(
    e164: str | None,
    country_code: str | None,
    org_country: str | None,
    org_timezone: str | None,
    region: str | None = None,
) -> str | None:
    """The customer's timezone, where it is billed first: its billing state's where the country spans
    zones (a California business with an Oklahoma mobile is in Los Angeles), else its country's only
    zone; else its number's; else the organization's."""
    if zone := zone_of_region(country_code, region):
        return zone
    if country_code and (zone := only_zone_of(country_code)):
        return zone
    if e164:
        zones = [z for z in phone_timezones.time_zones_for_number(phonenumbers.parse(e164)) if z != _UNKNOWN_ZONE]
        if len(zones) == 1:
            return zones[0]
        if org_timezone and org_timezone in zones:
            return org_timezone
    return org_timezone
