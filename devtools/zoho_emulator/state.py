"""The emulator as one object: a thin facade over the store, OAuth, limits, faults and the router.

Every public method takes the one lock, so the threaded server and the control API can race
safely. The parts (see the module names) each do one job and are not thread-safe on their own.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from zoho_emulator.dataset import OrgData
from zoho_emulator.faults import ENDPOINTS, FAULT_KINDS, FaultInjector, FaultRule
from zoho_emulator.limits import Limits
from zoho_emulator.oauth import OAuth
from zoho_emulator.profiles import PROFILES, Profile
from zoho_emulator.rendering import any_record, contact_detail, organization, zoho_times
from zoho_emulator.router import CallLog, Router
from zoho_emulator.settings import Settings, WindowLimit
from zoho_emulator.store import Clock, DataStore, OrgOptions, OrgSpec, Record
from zoho_emulator.webhooks import WebhookPoster
from zoho_emulator.wire import ApiError, Response

__all__ = ["ENDPOINTS", "FAULT_KINDS", "PROFILES", "ApiError", "Emulator", "FaultRule", "Response"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _locked(method: Callable[Concatenate[Emulator, _P], _R]) -> Callable[Concatenate[Emulator, _P], _R]:
    """Run the method under the emulator's lock."""

    @functools.wraps(method)
    def locked(self: Emulator, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self.lock:
            return method(self, *args, **kwargs)

    return locked


class Emulator:
    """A Zoho Books stand-in holding any number of organizations."""

    def __init__(self, client_id: str = "emulator-client", client_secret: str = "emulator-secret") -> None:
        self.lock = threading.RLock()
        self.client_id = client_id
        self.client_secret = client_secret
        self.settings = Settings()
        self.clock = Clock()
        self.store = DataStore(self.clock)
        self.oauth = OAuth(client_id, client_secret, self.settings, self.clock)
        self.limits = Limits(self.settings)
        self.faults = FaultInjector()
        self.log = CallLog()
        self.webhooks = WebhookPoster()
        self.router = Router(
            lock=self.lock,
            settings=self.settings,
            store=self.store,
            oauth=self.oauth,
            limits=self.limits,
            faults=self.faults,
            log=self.log,
        )

    # ----------------------------------------------------------------------------- settings and clock

    @_locked
    def configure(self, /, **settings: Any) -> None:
        """token_ttl_seconds, hang_seconds, latency_seconds, refresh_limit ({calls, window_seconds} or
        None), daily_limit, max_concurrent, profile (for new organizations), rate_limit_headers."""
        self.settings.configure(**settings)

    def now(self) -> datetime:
        return self.clock.now()

    @_locked
    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @_locked
    def freeze_clock(self, frozen: bool) -> None:
        self.clock.freeze(frozen)

    @_locked
    def reset_clock(self) -> None:
        """Real time again: no offset, not frozen (each test starts from it)."""
        self.clock.offset = timedelta()
        self.clock.freeze(False)

    # ----------------------------------------------------------------------------- organizations

    @_locked
    def add_org(
        self,
        organization_id: str,
        *,
        seed: int = 1,
        customers: int = 50,
        invoices: int = 200,
        country_code: str = "IN",
        no_phone_share: float = 0.15,
        vendors: int | None = None,
        old_customer_share: float = 0.03,
        open_share: float | None = None,
        profile: str | None = None,
        daily_limit: int | None = None,
        rate_limit_headers: bool | None = None,
        ignore_undocumented: bool | None = None,
    ) -> OrgData:
        """Generate an organization from `seed`. `profile` (default: the configured one) picks
        observed or documented behaviour; `daily_limit`/`rate_limit_headers` override the settings;
        `ignore_undocumented` makes it ignore what Zoho's reference does not document."""
        spec = OrgSpec(seed, customers, invoices, country_code, no_phone_share, vendors, old_customer_share, open_share)
        options = OrgOptions(self.settings.profile)
        options.update(
            profile=profile or self.settings.profile,
            daily_limit=daily_limit,
            rate_limit_headers=rate_limit_headers,
            ignore_undocumented=ignore_undocumented,
        )
        return self.store.add_org(organization_id, spec, options).data

    @_locked
    def configure_org(self, organization_id: str, /, **options: Any) -> None:
        """Change an organization's profile, daily_limit, rate_limit_headers or ignore_undocumented (null: the
        setting applies)."""
        self.store.get(organization_id).options.update(**options)

    @_locked
    def profile_of(self, organization_id: str) -> Profile:
        return self.store.get(organization_id).options.profile

    @_locked
    def quota(self, organization_id: str) -> dict[str, Any]:
        """The organization's daily quota: limit, used, remaining, reset_seconds, enforced."""
        stored = self.store.get(organization_id)
        return dict(self.limits.quota(organization_id, stored.options, self.clock.now()).as_dict())

    @_locked
    def spend_calls(self, organization_id: str, calls: int) -> dict[str, Any]:
        """Spend the organization's daily calls as another app would; returns the quota after."""
        self.store.get(organization_id)
        self.limits.spend(organization_id, int(calls), self.clock.now())
        return self.quota(organization_id)

    # ----------------------------------------------------------------------------- records

    def _notify(self, organization_id: str, kind: str, record: Record) -> Record:
        """The organization's webhook, when it has one for this module (the body is built now, sent later)."""
        webhook = self.store.get(organization_id).options.webhook
        if webhook is not None:
            self.webhooks.post(webhook, kind, record)
        return record

    @_locked
    def update_contact(self, organization_id: str, contact_id: str, changes: dict[str, Any]) -> Record:
        """Edit a contact. `phone`/`mobile`/`email` go to the primary person (else the first, else the contact)."""
        return self._notify(organization_id, "contact", self.store.update_contact(organization_id, contact_id, changes))

    @_locked
    def update_contact_person(
        self, organization_id: str, contact_id: str, person_id: str, changes: dict[str, Any]
    ) -> Record:
        """Edit one contact person (e.g. communication_preference); returns the contact."""
        contact = self.store.update_contact_person(organization_id, contact_id, person_id, changes)
        return self._notify(organization_id, "contact", contact)

    @_locked
    def create_contact(self, organization_id: str, changes: dict[str, Any] | None = None) -> Record:
        return self._notify(organization_id, "contact", self.store.create_contact(organization_id, changes))

    @_locked
    def delete_contact(self, organization_id: str, contact_id: str) -> None:
        self._notify(organization_id, "contact", dict(self.store.get(organization_id).data.contacts[contact_id]))
        self.store.delete_contact(organization_id, contact_id)

    @_locked
    def restore_contact(self, organization_id: str, contact_id: str) -> Record:
        return self.store.restore_contact(organization_id, contact_id)

    @_locked
    def create_invoice(self, organization_id: str, customer_id: str, changes: dict[str, Any] | None = None) -> Record:
        return self._notify(
            organization_id, "invoice", self.store.create_invoice(organization_id, customer_id, changes)
        )

    @_locked
    def update_invoice(self, organization_id: str, invoice_id: str, changes: dict[str, Any]) -> Record:
        return self._notify(organization_id, "invoice", self.store.update_invoice(organization_id, invoice_id, changes))

    @_locked
    def pay_invoice(self, organization_id: str, invoice_id: str) -> Record:
        """The invoice paid in full by a customer payment (recorded, and announced to a payments webhook)."""
        invoice = self.store.get(organization_id).data.invoices[invoice_id]
        payment = self.store.record_payment(organization_id, invoice, self.clock.now())
        paid = self.update_invoice(organization_id, invoice_id, {"status": "paid", "balance": 0.0})
        self._notify(organization_id, "payment", payment)
        return paid

    def void_invoice(self, organization_id: str, invoice_id: str) -> Record:
        return self.update_invoice(organization_id, invoice_id, {"status": "void", "balance": 0.0})

    @_locked
    def delete_invoice(self, organization_id: str, invoice_id: str) -> None:
        self._notify(organization_id, "invoice", dict(self.store.get(organization_id).data.invoices[invoice_id]))
        self.store.delete_invoice(organization_id, invoice_id)

    # ----------------------------------------------------------------------------- tokens

    @_locked
    def add_refresh_token(self, token: str, organizations: list[str] | None = None) -> None:
        self.oauth.add_refresh_token(token, organizations)

    @_locked
    def revoke_refresh_token(self, token: str) -> None:
        self.oauth.revoke_refresh_token(token)

    @_locked
    def expire_access_tokens(self) -> None:
        self.oauth.expire_access_tokens()

    # ----------------------------------------------------------------------------- faults and limits

    @_locked
    def add_fault(
        self, endpoint: str, kind: str, count: int = 1, organization_id: str | None = None, after: int = 0
    ) -> None:
        self.faults.add(endpoint, kind, count, organization_id, after)

    @_locked
    def set_random_faults(
        self, rate: float, kinds: list[str], seed: int = 0, endpoints: list[str] | None = None
    ) -> None:
        self.faults.set_random(rate, kinds, seed, endpoints)

    @_locked
    def clear_faults(self) -> None:
        self.faults.clear()

    @_locked
    def set_rate_limit(self, calls: int | None, window_seconds: float = 60.0) -> None:
        """At most `calls` API calls per organization per `window_seconds` (None: no limit)."""
        self.settings.rate_limit = WindowLimit(int(calls), float(window_seconds)) if calls else None
        self.limits.per_minute.clear()

    @_locked
    def stats(self) -> dict[str, Any]:
        return self.log.stats()

    @_locked
    def reset_stats(self) -> None:
        self.log.reset()

    # ----------------------------------------------------------------------------- requests and views

    @_locked
    def handle(self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]) -> Response:
        """One HTTP request in, one response out. The caller sleeps `delay_seconds` first and calls
        `finish()` once the answer is sent (it frees the call's concurrency slot)."""
        return self.router.handle(method, path, query, body, headers)

    @_locked
    def render(self, organization_id: str, record: Record) -> Record:
        """A record as the API shows it (Zoho timestamps), for control API answers."""
        return any_record(self.store.get(organization_id).data, record)

    @_locked
    def snapshot(self, organization_id: str) -> dict[str, Any]:
        """The organization's data as the API would show it (ground truth for tests)."""
        stored = self.store.get(organization_id)
        org = stored.data
        return {
            "organization": organization(stored),
            "contacts": [contact_detail(org, c) for c in org.contacts.values()],
            "invoices": [zoho_times(org, i) for i in org.invoices.values()],
        }
