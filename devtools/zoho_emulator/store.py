"""The emulator's data: organizations, their records, edits, sorted indexes, and the clock.

Not thread-safe on its own: the Emulator facade and the router hold the emulator's lock around it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from zoho_emulator.dataset import Generator, OrgData, generate
from zoho_emulator.profiles import Profile, RecordKind
from zoho_emulator.settings import ORG_OPTION_PARSERS, parse_fields

SortKey = tuple[int, Any]
Entry = tuple[tuple[SortKey, ...], str]  # (one key per sort column, record id)
Record = dict[str, Any]


class Clock:
    """The emulator's time: real time shifted by an offset, optionally frozen."""

    def __init__(self) -> None:
        self.offset = timedelta()
        self.frozen_at: datetime | None = None

    def now(self) -> datetime:
        base = self.frozen_at if self.frozen_at is not None else datetime.now(UTC)
        return base + self.offset

    def tick(self) -> datetime:
        """A modification time, whole seconds as Zoho keeps them."""
        return self.now().replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def freeze(self, frozen: bool) -> None:
        """While frozen, every change gets the same modification time (a bulk edit within one second)."""
        if frozen and self.frozen_at is None:
            self.frozen_at = datetime.now(UTC)
        elif not frozen:
            self.frozen_at = None


@dataclass(frozen=True)
class OrgSpec:
    """What to generate for a new organization (see dataset.generate)."""

    seed: int = 1
    customers: int = 50
    invoices: int = 200
    country_code: str = "IN"
    no_phone_share: float = 0.15
    vendors: int | None = None
    old_customer_share: float = 0.03
    open_share: float | None = None  # a share of open invoices falling due in 5-40 days (the rest paid)


@dataclass
class OrgOptions:
    """How one organization behaves; None means the emulator-wide setting applies."""

    profile: Profile
    daily_limit: int | None = None
    rate_limit_headers: bool | None = None
    rate_limit_header_values: dict[str, str] | None = None  # sent instead of the true X-Rate-Limit-* values
    # what Zoho's reference does not document is ignored: contacts' last_modified_time filter, and
    # sort_order on every list (each list in its column's ascending order)
    ignore_undocumented: bool | None = None
    webhook: dict[str, Any] | None = None  # {urls: {invoice|contact: url}, headers}: post when records change

    def update(self, **raw: Any) -> None:
        """Validate every given option first, then apply them all."""
        for name, value in parse_fields(raw, ORG_OPTION_PARSERS, "organization options").items():
            setattr(self, name, value)


@dataclass
class StoredOrg:
    """One organization: its data, how to make more of it, its options and its sort indexes."""

    data: OrgData
    generator: Generator
    options: OrgOptions
    deleted_contacts: dict[str, Record] = field(default_factory=dict)
    sorted_cache: dict[tuple[RecordKind, tuple[str, ...], bool], list[Entry]] = field(default_factory=dict)
    # a list query's matching ids in order (whatever its page): the pages of one pass slice it, O(page) each
    filtered_cache: dict[tuple[Any, ...], list[str]] = field(default_factory=dict)

    def records(self, kind: RecordKind) -> dict[str, Record]:
        return self.data.contacts if kind == "contacts" else self.data.invoices


def sort_key(value: Any) -> SortKey:
    """Any stored value, comparable with any other (edits can store anything): numbers, then text
    (case-blind; null sorts as ""), then times, then the rest."""
    if isinstance(value, int | float):
        return (0, value)
    if value is None or isinstance(value, str):
        return (1, (value or "").casefold())
    if isinstance(value, datetime):
        return (2, value)
    return (3, repr(value))


def _persons(contact: Record) -> list[Record]:
    persons = contact.get("contact_persons")
    return [p for p in persons if isinstance(p, dict)] if isinstance(persons, list) else []


def _primary_or_first(contact: Record) -> Record | None:
    people = _persons(contact)
    return next((p for p in people if p.get("is_primary_contact")), people[0] if people else None)


def _sync_contact_fields(contact: Record) -> None:
    """The contact-level email/phone/mobile mirror the primary person, as in Zoho."""
    primary = next((p for p in _persons(contact) if p.get("is_primary_contact")), None)
    if primary is not None:
        for key in ("email", "phone", "mobile"):
            contact[key] = primary.get(key, "")


def _apply_contact_change(contact: Record, key: str, value: Any) -> None:
    """`phone`/`mobile`/`email` go to the primary person (else the first, else the contact);
    `billing_country`/`billing_state` to the billing address."""
    if key in ("phone", "mobile", "email"):
        target = _primary_or_first(contact)
        (target if target is not None else contact)[key] = value
    elif key in ("billing_country", "billing_state"):
        if not isinstance(contact.get("billing_address"), dict):
            contact["billing_address"] = {}
        contact["billing_address"][key.removeprefix("billing_")] = value
    else:
        contact[key] = value


def _receivables(stored: StoredOrg) -> dict[str, float]:
    """Each customer's unpaid balance, for sorting contacts by outstanding_receivable_amount."""
    owed: defaultdict[str, float] = defaultdict(float)
    for invoice in stored.data.invoices.values():
        balance = invoice.get("balance")
        if isinstance(balance, int | float):
            owed[str(invoice.get("customer_id"))] += balance
    return owed


class DataStore:
    """Organizations by id, and every edit the control API can make to them."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.orgs: dict[str, StoredOrg] = {}

    def add_org(self, organization_id: str, spec: OrgSpec, options: OrgOptions) -> StoredOrg:
        data = generate(
            organization_id,
            seed=spec.seed,
            customers=spec.customers,
            invoices=spec.invoices,
            now=self.clock.now(),
            country_code=spec.country_code,
            no_phone_share=spec.no_phone_share,
            vendors=spec.vendors,
            old_customer_share=spec.old_customer_share,
            open_share=spec.open_share,
        )
        generator = Generator(data, spec.seed + 7919, no_phone_share=spec.no_phone_share)
        stored = StoredOrg(data, generator, options)
        self.orgs[organization_id] = stored
        return stored

    def get(self, organization_id: str) -> StoredOrg:
        stored = self.orgs.get(organization_id)
        if stored is None:
            raise KeyError(f"no organization {organization_id}")
        return stored

    def _touch(self, stored: StoredOrg, record: Record | None = None) -> None:
        """A change: the record's modification time moves on and the sort indexes are stale."""
        if record is not None:
            record["last_modified_time"] = self.clock.tick()
        stored.sorted_cache.clear()
        stored.filtered_cache.clear()

    # ------------------------------------------------------------------------------------ contacts

    def update_contact(self, organization_id: str, contact_id: str, changes: dict[str, Any]) -> Record:
        stored = self.get(organization_id)
        contact = stored.data.contacts[contact_id]
        for key, value in changes.items():
            _apply_contact_change(contact, key, value)
        _sync_contact_fields(contact)
        self._touch(stored, contact)
        return contact

    def update_contact_person(
        self, organization_id: str, contact_id: str, person_id: str, changes: dict[str, Any]
    ) -> Record:
        """Edit one contact person; a communication_preference object is merged into the current one."""
        stored = self.get(organization_id)
        contact = stored.data.contacts[contact_id]
        person = next((p for p in _persons(contact) if p.get("contact_person_id") == person_id), None)
        if person is None:
            raise KeyError(f"no contact person {person_id} on contact {contact_id}")
        for key, value in changes.items():
            current = person.get(key)
            if key == "communication_preference" and isinstance(current, dict) and isinstance(value, dict):
                person[key] = {**current, **value}
            else:
                person[key] = value
        _sync_contact_fields(contact)
        self._touch(stored, contact)
        return contact

    def create_contact(self, organization_id: str, changes: dict[str, Any] | None = None) -> Record:
        stored = self.get(organization_id)
        contact = stored.generator.contact(self.clock.tick())
        stored.data.contacts[contact["contact_id"]] = contact
        self._touch(stored)
        if changes:
            contact = self.update_contact(organization_id, contact["contact_id"], changes)
        return contact

    def delete_contact(self, organization_id: str, contact_id: str) -> None:
        stored = self.get(organization_id)
        stored.deleted_contacts[contact_id] = stored.data.contacts.pop(contact_id)
        self._touch(stored)

    def restore_contact(self, organization_id: str, contact_id: str) -> Record:
        stored = self.get(organization_id)
        contact = stored.deleted_contacts.pop(contact_id)
        stored.data.contacts[contact_id] = contact
        self._touch(stored, contact)
        return contact

    # ------------------------------------------------------------------------------------ invoices

    def create_invoice(self, organization_id: str, customer_id: str, changes: dict[str, Any] | None = None) -> Record:
        """A new invoice, "sent" unless `changes` say otherwise; an unknown customer gets a made-up name."""
        stored = self.get(organization_id)
        customer = stored.data.contacts.get(customer_id) or stored.deleted_contacts.get(customer_id)
        if customer is None:
            customer = {"contact_id": customer_id, "contact_name": f"Customer {customer_id}"}
        invoice = stored.generator.invoice(customer, self.clock.now().date(), self.clock.tick())
        invoice["status"] = "sent"
        invoice.update(changes or {})
        if "balance" not in (changes or {}):
            invoice["balance"] = 0.0 if invoice["status"] in ("paid", "void") else invoice["total"]
        stored.data.invoices[invoice["invoice_id"]] = invoice
        self._touch(stored)
        return invoice

    def update_invoice(self, organization_id: str, invoice_id: str, changes: dict[str, Any]) -> Record:
        stored = self.get(organization_id)
        invoice = stored.data.invoices[invoice_id]
        invoice.update(changes)
        self._touch(stored, invoice)
        return invoice

    def record_payment(self, organization_id: str, invoice: Record, when: datetime) -> Record:
        """A customer payment of the invoice's balance, as `GET /customerpayments/{id}` shows it."""
        stored = self.get(organization_id)
        payment_id = stored.data.new_id()
        amount = invoice.get("balance") or invoice.get("total") or 0
        stored.data.payments[payment_id] = payment = {
            "payment_id": payment_id,
            "payment_mode": "cash",
            "amount": amount,
            "date": when.date().isoformat(),
            "customer_id": invoice.get("customer_id"),
            "customer_name": invoice.get("customer_name"),
            "invoices": [
                {"invoice_id": invoice["invoice_id"], "invoice_number": invoice.get("invoice_number"),
                 "amount_applied": amount, "balance_amount": 0}
            ],
        }  # fmt: skip
        return payment

    def delete_invoice(self, organization_id: str, invoice_id: str) -> None:
        stored = self.get(organization_id)
        del stored.data.invoices[invoice_id]
        self._touch(stored)

    # ------------------------------------------------------------------------------------ indexes

    def sorted_records(
        self, stored: StoredOrg, kind: RecordKind, columns: tuple[str, ...], descending: bool
    ) -> list[Entry]:
        """Record ids in list order (ties broken by id), cached until the organization changes."""
        cache_key = (kind, columns, descending)
        cached = stored.sorted_cache.get(cache_key)
        if cached is None:
            owed = _receivables(stored) if "outstanding_receivable_amount" in columns else {}

            def value(record_id: str, record: Record, column: str) -> Any:
                return owed.get(record_id, 0.0) if column == "outstanding_receivable_amount" else record.get(column)

            cached = sorted(
                (
                    (tuple(sort_key(value(record_id, record, column)) for column in columns), record_id)
                    for record_id, record in stored.records(kind).items()
                ),
                reverse=descending,
            )
            stored.sorted_cache[cache_key] = cached
        return cached
