"""Fetching one customer's detail: the one way every step asks Zoho for a contact.

The details phase (customers by urgency, failed ones again after their wait), the invoice sync
(a customer the cache lacks) and the deletion check all come here, so "what a detail answer
means" is decided once: a record, gone from Zoho, or unusable (with why).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from books_sync.errors import ZohoApiError, ZohoNotFound, ZohoProtocolError
from books_sync.records.contacts import CustomerRecord, ListedContact, customer_record, record_from_detail
from books_sync.records.organizations import OrganizationProfile
from books_sync.zoho.client import ZohoClient

LookupOutcome = Literal["found", "gone", "unusable", "not a customer"]


@dataclass(frozen=True)
class CustomerLookup:
    outcome: LookupOutcome
    record: CustomerRecord | None = None
    problem: str | None = None  # why the detail is unusable (safe to log)


def fetch_customer(
    client: ZohoClient, zoho_id: str, organization: OrganizationProfile, list_hash: str | None = None
) -> CustomerLookup:
    """`GET /contacts/{id}` as a record. With `list_hash` (the hash of the list row it was queued
    for), the detail is current for that row: a detail's own fields may hash differently."""
    try:
        detail = client.get_contact(zoho_id)
        if str(detail.get("contact_id")) != zoho_id:
            raise ZohoProtocolError("contacts.get", "the detail is for another contact")
        if detail.get("contact_type") not in (None, "", "customer"):
            return CustomerLookup("not a customer")  # a vendor (a webhook on contacts names them too)
        record = record_from_detail(detail, org_country=organization.country_code, org_timezone=organization.timezone)
    except ZohoNotFound:
        return CustomerLookup("gone")
    except (ZohoProtocolError, ZohoApiError, ValueError) as exc:
        return CustomerLookup("unusable", problem=str(exc))
    return CustomerLookup("found", record if list_hash is None else replace(record, sync_hash=list_hash))


def record_from_list_row(listed: ListedContact, organization: OrganizationProfile) -> CustomerRecord:
    """The customer as its list row tells it (persons unknown): stored at once, its detail queued."""
    return customer_record(
        listed.row,
        sync_hash=listed.sync_hash,
        modified_at=listed.modified_at,
        org_country=organization.country_code,
        org_timezone=organization.timezone,
        persons_known=False,
    )
