"""The organization's country and timezone: the fallback for parsing phones and scheduling reminders.

Fetched once per tenant (one API call) and kept on `zoho_connections`.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from books_sync.db import Database
from books_sync.errors import ZohoApiError, ZohoNotFound, ZohoProtocolError
from books_sync.records.countries import country_code_from_name
from books_sync.records.text import clean_text
from books_sync.storage import tenants
from books_sync.storage.tenants import Tenant
from books_sync.zoho.client import ZohoClient


def valid_timezone(name: str | None) -> str | None:
    """An IANA zone name Postgres and Python both know, or None ('PST'-style abbreviations are not)."""
    if not name or "/" not in name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def ensure_organization_profile(db: Database, client: ZohoClient, tenant: Tenant) -> tuple[str | None, str | None]:
    """(country code, timezone) of the tenant's organization, asking Zoho only if not yet known."""
    if tenant.organization_country_code or tenant.organization_timezone:
        return tenant.organization_country_code, tenant.organization_timezone
    try:
        organization = client.get_organization()
    except (ZohoNotFound, ZohoApiError, ZohoProtocolError):
        return None, None
    country = country_code_from_name(organization.get("country_code")) or country_code_from_name(
        organization.get("country")
    )
    timezone = valid_timezone(clean_text(organization.get("time_zone")))
    tenants.set_organization_profile(db, tenant.user_id, country, timezone)
    return country, timezone
