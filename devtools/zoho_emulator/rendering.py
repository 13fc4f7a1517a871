"""How records look on the wire: Zoho timestamps, list rows versus details, page_context, organizations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zoho_emulator.dataset import ORG_COUNTRY_TEXT, ZONE_ABBREVIATIONS, OrgData, zoho_time
from zoho_emulator.profiles import RULES, ListRules, Ordering
from zoho_emulator.store import Record, StoredOrg

_PERSON_SUMMARY = ("contact_person_id", "first_name", "last_name", "email", "phone", "mobile", "is_primary_contact")
_DETAIL_ONLY_CONTACT_FIELDS = ("contact_persons", "billing_address", "payment_reminder_enabled")


def zoho_times(org: OrgData, record: Record) -> Record:
    """A copy of the record with its times as Zoho writes them, in the organization's offset."""
    out = dict(record)
    for key in ("created_time", "last_modified_time"):
        if isinstance(out.get(key), datetime):
            out[key] = zoho_time(out[key], org.tz_offset_minutes)
    return out


def contact_row(org: OrgData, contact: Record) -> Record:
    """A contacts list row: the primary person's fields only, no persons, address or reminder flag."""
    row = zoho_times(org, contact)
    for key in _DETAIL_ONLY_CONTACT_FIELDS:
        row.pop(key, None)
    return row


def contact_detail(org: OrgData, contact: Record) -> Record:
    detail = zoho_times(org, contact)
    persons = contact.get("contact_persons")
    detail["contact_persons"] = [dict(p) if isinstance(p, dict) else p for p in persons or []]
    billing = contact.get("billing_address")
    detail["billing_address"] = dict(billing) if isinstance(billing, dict) else billing
    return detail


def invoice_detail(org: OrgData, invoice: Record) -> Record:
    """The invoice with its customer's persons and billing address, as GET /invoices/{id} has them."""
    detail = zoho_times(org, invoice)
    customer = org.contacts.get(invoice["customer_id"])
    persons = customer["contact_persons"] if customer else []
    detail["contact_persons_details"] = [{k: p.get(k) for k in _PERSON_SUMMARY} for p in persons]
    detail["billing_address"] = dict(customer["billing_address"]) if customer else {}
    return detail


def any_record(org: OrgData, record: Record) -> Record:
    """A contact (detail) or an invoice, for control API answers."""
    return contact_detail(org, record) if "contact_persons" in record else zoho_times(org, record)


def organization(stored: StoredOrg) -> Record:
    """GET /organizations/{id}: today's observed shape, or the documented one (country only as
    free text in address.country, time zone as an abbreviation)."""
    org = stored.data
    if not RULES[stored.options.profile].documented_organization:
        return {
            "organization_id": org.organization_id,
            "name": org.name,
            "country": org.country_name,
            "country_code": org.country_code,
            "time_zone": org.timezone,
            "currency_code": org.currency_code,
            "is_org_active": True,
        }
    return {
        "organization_id": org.organization_id,
        "name": org.name,
        "is_default_org": False,
        "language_code": "en",
        "date_format": "dd MMM yyyy",
        "time_zone": ZONE_ABBREVIATIONS[org.country_code],
        "currency_code": org.currency_code,
        "is_org_active": True,
        "address": {
            "street_address1": "1 Main Road",
            "street_address2": "",
            "city": "",
            "state": "",
            "zip": "",
            "country": ORG_COUNTRY_TEXT[org.country_code],
        },
    }


def page_context(
    rules: ListRules, *, page: int, per_page: int, has_more: bool, ordering: Ordering, status_filter: str
) -> dict[str, Any] | list[dict[str, Any]]:
    """Observed: an object. Documented: it also names the report and filter, and for invoices it is
    an array of one object, as in Zoho's sample response."""
    context: dict[str, Any] = {"page": page, "per_page": per_page, "has_more_page": has_more}
    if rules.report_name is not None:
        context["report_name"] = rules.report_name
        context["applied_filter"] = status_filter
    context["sort_column"] = ordering.reported_column
    context["sort_order"] = ordering.order
    return [context] if rules.page_context_as_array else context
