"""From Zoho contacts to `customers_cache` rows: change hash, validation, and the record itself.

Pure functions. Zoho data is treated as untrusted: wrong types become missing values, NUL
characters (which Postgres cannot store) are removed, and absurdly long strings are cut, so one
odd contact can never make a whole page fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from books_sync.clock import utcnow
from books_sync.records.countries import country_code_from_name
from books_sync.records.phones import PhoneChoice, choose_phone, primary_person, timezone_for
from books_sync.records.text import MAX_ID, clean_text
from books_sync.zoho.timestamps import parse_zoho_time, plausible

SEPARATOR = "\x1f"  # ASCII unit separator
_PERSON_FIELDS = (
    "contact_person_id",
    "salutation",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    "is_primary_contact",
)


def _field(value: Any) -> str:
    """One hash field: missing is empty; backslash and the separator are escaped so joins are unambiguous."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text.replace("\\", "\\\\").replace(SEPARATOR, "\\x1f")


def hash_fields(contact: Mapping[str, Any]) -> tuple[Any, ...]:
    """What the hash covers. List rows carry the primary person's phone/mobile/email at the top
    level; a contact detail without them falls back to its primary person."""
    person = primary_person([p for p in contact.get("contact_persons") or [] if isinstance(p, Mapping)]) or {}
    return (
        contact.get("contact_id"),
        contact.get("contact_name"),
        contact["phone"] if "phone" in contact else person.get("phone"),
        contact["mobile"] if "mobile" in contact else person.get("mobile"),
        contact["email"] if "email" in contact else person.get("email"),
        contact.get("last_modified_time"),
    )


def contact_hash(contact: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over id, name, primary phone, mobile, email and last_modified_time."""
    joined = SEPARATOR.join(_field(value) for value in hash_fields(contact))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ListedContact:
    """A validated row of the contacts list; `modified_at` None: Zoho's time is later than now (unknown)."""

    zoho_id: str
    modified_at: datetime | None
    sync_hash: str
    row: Mapping[str, Any]

    @property
    def is_customer(self) -> bool:
        """Vendors share the contacts list; a list that ignores `contact_type` shows them too."""
        return self.row.get("contact_type") in (None, "", "customer")


def parse_listed_contact(row: Any) -> ListedContact | str:
    """The row, or the reason it cannot be used (logged and counted by the caller)."""
    if not isinstance(row, Mapping):
        return f"row is a {type(row).__name__}, not an object"
    zoho_id = clean_text(row.get("contact_id"), limit=MAX_ID + 1)
    if not zoho_id:
        return "row has no contact_id"
    if len(zoho_id) > MAX_ID:
        return "contact_id is longer than 64 characters"
    try:
        modified_at = parse_zoho_time(row.get("last_modified_time"))
    except ValueError:
        return f"contact {zoho_id}: last_modified_time is missing or malformed"
    return ListedContact(zoho_id, plausible(modified_at, utcnow()), contact_hash(row), row)


@dataclass(frozen=True)
class CustomerRecord:
    """One `customers_cache` row as the sync writes it (never `phone_override`).

    From a list row (`detailed=False`): what the list tells, persons unknown (the stored ones are
    kept) and the detail queued. From a detail: everything, the detail current for `sync_hash`.
    """

    zoho_customer_id: str
    customer_name: str | None
    primary_phone: str | None
    primary_email: str | None
    contact_persons: list[dict[str, Any]] | None  # None: not known (keep what is stored)
    country_code: str | None
    timezone: str | None
    zoho_last_modified_at: datetime | None
    sync_hash: str | None
    phone: PhoneChoice
    detailed: bool = True
    payment_reminder_enabled: bool | None = None  # Zoho's setting; None: not said
    phone_sms_enabled: bool | None = None  # the phone's person's communication preferences
    phone_whatsapp_enabled: bool | None = None
    billing_region: str | None = None  # the billing address's state: its zone where the country spans several

    def as_row(self) -> dict[str, Any]:
        return {
            "zoho_customer_id": self.zoho_customer_id,
            "customer_name": self.customer_name,
            "primary_phone": self.primary_phone,
            "primary_email": self.primary_email,
            "contact_persons": self.contact_persons,
            "country_code": self.country_code,
            "timezone": self.timezone,
            "zoho_last_modified_at": self.zoho_last_modified_at.isoformat() if self.zoho_last_modified_at else None,
            "sync_hash": self.sync_hash,
            "payment_reminder_enabled": self.payment_reminder_enabled,
            "phone_sms_enabled": self.phone_sms_enabled,
            "phone_whatsapp_enabled": self.phone_whatsapp_enabled,
            "billing_region": self.billing_region,
        }


def flag(value: Any) -> bool | None:
    """A yes/no Zoho sent, whatever its type; None when it cannot tell (never a guess of "yes")."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    return None


def _preferences(person: Mapping[str, Any] | None) -> tuple[bool | None, bool | None]:
    preference = person.get("communication_preference") if person else None
    if not isinstance(preference, Mapping):
        return None, None
    return flag(preference.get("is_sms_enabled")), flag(preference.get("is_whatsapp_enabled"))


def _persons(raw: Any) -> list[dict[str, Any]]:
    persons = []
    for person in raw if isinstance(raw, list) else []:
        if not isinstance(person, Mapping):
            continue
        cleaned: dict[str, Any] = {key: clean_text(person.get(key)) for key in _PERSON_FIELDS}
        cleaned["is_primary_contact"] = person.get("is_primary_contact") is True
        sms, whatsapp = _preferences(person)
        if sms is not None or whatsapp is not None:
            cleaned["communication_preference"] = {"is_sms_enabled": sms, "is_whatsapp_enabled": whatsapp}
        persons.append(cleaned)
    return persons


def customer_record(
    contact: Mapping[str, Any],
    *,
    sync_hash: str | None,
    modified_at: datetime | None,
    org_country: str | None,
    org_timezone: str | None,
    persons_known: bool = True,
) -> CustomerRecord:
    """Build the row from a contact detail (or, with `persons_known=False`, from a list row: its
    top-level phone, mobile and email are the primary person's)."""
    zoho_id = clean_text(contact.get("contact_id"), limit=MAX_ID)
    if not zoho_id:
        raise ValueError("contact has no contact_id")
    persons = _persons(contact.get("contact_persons"))
    billing = contact.get("billing_address")
    billing_country = country_code_from_name(billing.get("country")) if isinstance(billing, Mapping) else None
    region = clean_text(billing.get("state"), limit=100) if isinstance(billing, Mapping) and billing_country else None
    phone_source = {
        "contact_persons": persons,
        "mobile": clean_text(contact.get("mobile")),
        "phone": clean_text(contact.get("phone")),
    }
    phone = choose_phone(phone_source, billing_country, org_country)
    person = primary_person(persons) or {}
    others = (clean_text(p.get("email")) for p in persons if p is not person)
    email = clean_text(person.get("email")) or clean_text(contact.get("email")) or next(filter(None, others), None)
    country = billing_country or phone.region
    sms, whatsapp = _preferences(phone.person)
    return CustomerRecord(
        zoho_customer_id=zoho_id,
        customer_name=clean_text(contact.get("contact_name")),
        primary_phone=phone.e164,
        primary_email=email,
        contact_persons=persons if persons_known else None,
        country_code=country,
        timezone=timezone_for(phone.e164, country, org_country, org_timezone, region),
        billing_region=region,
        zoho_last_modified_at=modified_at,
        sync_hash=sync_hash,
        phone=phone,
        detailed=persons_known,
        payment_reminder_enabled=flag(contact.get("payment_reminder_enabled")) if persons_known else None,
        phone_sms_enabled=sms,
        phone_whatsapp_enabled=whatsapp,
    )


def record_from_detail(detail: Any, *, org_country: str | None, org_timezone: str | None) -> CustomerRecord:
    """A contact fetched on its own (no list row): the hash comes from the detail's own fields."""
    listed = parse_listed_contact(detail)
    if isinstance(listed, str):
        raise ValueError(listed)
    return customer_record(
        detail,
        sync_hash=listed.sync_hash,
        modified_at=listed.modified_at,
        org_country=org_country,
        org_timezone=org_timezone,
    )
