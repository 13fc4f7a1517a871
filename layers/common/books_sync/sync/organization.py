"""The tenant's organization profile: asked of Zoho once (one call) and kept on `zoho_connections`."""

from __future__ import annotations

from books_sync.db import Database
from books_sync.errors import ZohoApiError, ZohoNotFound, ZohoProtocolError
from books_sync.records.organizations import OrganizationProfile, organization_profile
from books_sync.storage import tenants
from books_sync.storage.tenants import Tenant
from books_sync.zoho.client import ZohoClient


def ensure_organization_profile(db: Database, client: ZohoClient, tenant: Tenant) -> OrganizationProfile:
    """The cached profile, else Zoho's answer (stored); unknown when Zoho will not say."""
    cached = OrganizationProfile(tenant.organization_country_code, tenant.organization_timezone)
    if cached.known:
        return cached
    try:
        profile = organization_profile(client.get_organization())
    except (ZohoNotFound, ZohoApiError, ZohoProtocolError):
        return cached
    tenants.set_organization_profile(db, tenant.user_id, profile.country_code, profile.timezone)
    return profile
