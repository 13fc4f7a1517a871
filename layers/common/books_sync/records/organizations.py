"""The organization's country and timezone, read from Zoho's organization answer.

They are the fallback for parsing national phone numbers and for scheduling reminders when a
customer's own country or zone is unknown. Zoho's reference shows the country only as free text
in `address.country` ("U.S.A") and `time_zone` as an abbreviation ("PST"); answers seen in the
wild also carry a top-level `country` / `country_code` and an IANA zone. Both shapes are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from books_sync.records.countries import country_code_from_name
from books_sync.records.text import clean_text
from books_sync.records.zones import zone_from


@dataclass(frozen=True)
class OrganizationProfile:
    country_code: str | None
    timezone: str | None

    @property
    def known(self) -> bool:
        return bool(self.country_code or self.timezone)


def organization_profile(organization: Mapping[str, Any]) -> OrganizationProfile:
    """Country and zone from `GET /organizations/{id}`'s `organization` object, in either shape."""
    address = organization.get("address")
    country = (
        country_code_from_name(organization.get("country_code"))
        or country_code_from_name(organization.get("country"))
        or (country_code_from_name(address.get("country")) if isinstance(address, Mapping) else None)
    )
    return OrganizationProfile(country, zone_from(clean_text(organization.get("time_zone")), country))
