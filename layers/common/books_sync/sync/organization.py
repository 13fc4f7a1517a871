"""The tenant's organization profile: asked of Zoho once and kept on `zoho_connections`.

An answer without a usable country or zone is kept too ("unknown"), and asked again only after
a day: every step invocation asking again would spend a call per step per run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from books_sync.db import Database
from books_sync.errors import ZohoApiError, ZohoNotFound, ZohoProtocolError
from books_sync.records.organizations import OrganizationProfile, organization_profile
from books_sync.storage import tenants
from books_sync.storage.tenants import Tenant
from books_sync.zoho.client import ZohoClient

ASK_AGAIN_AFTER = timedelta(days=1)


def ensure_organization_profile(db: Database, client: ZohoClient, tenant: Tenant, now: datetime) -> OrganizationProfile:
    """The cached profile, else Zoho's answer (stored, "unknown" included)."""
    cached = OrganizationProfile(tenant.organization_country_code, tenant.organization_timezone)
    checked = tenant.organization_profile_checked_at
    if cached.known or (checked is not None and now - checked < ASK_AGAIN_AFTER):
        return cached
    try:
        profile = organization_profile(client.get_organization())
    except (ZohoNotFound, ZohoApiError, ZohoProtocolError):
        profile = cached
    tenants.set_organization_profile(db, tenant.user_id, profile.country_code, profile.timezone)
    return profile
