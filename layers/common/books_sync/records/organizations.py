"""The organization's country and timezone, read from Zoho's organization answer.

They are the fallback for parsing national phone numbers and for scheduling reminders when a
customer's own country or zone is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from books_sync.records.countries import country_code_from_name
from books_sync.records.text import clean_text


@dataclass(frozen=True)
class OrganizationProfile:
    country_code: str | None
    timezone: str | None

    @property
    def known(self) -> bool:
        return bool(self.country_code or self.timezone)


def valid_timezone(name: str | None) -> str | None:
    """An IANA zone name Postgres and Python both know, or None ('PST'-style abbreviations are not)."""
    if not name or "/" not in name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def organization_profile(organization: Mapping[str, Any]) -> OrganizationProfile:
    """Country and zone from `GET /organizations/{id}`'s `organization` object."""
    country = country_code_from_name(organization.get("country_code")) or country_code_from_name(
        organization.get("country")
    )
    return OrganizationProfile(country, valid_timezone(clean_text(organization.get("time_zone"))))
