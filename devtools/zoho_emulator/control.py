"""A Python handle on a running emulator's control API (over HTTP, like any other client)."""

from __future__ import annotations

from typing import Any

import requests


class EmulatorControl:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def _post(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        response = self._session.post(f"{self.base_url}/_emulator/{path}", json=payload or {}, timeout=self.timeout)
        if response.status_code != 200:
            raise RuntimeError(f"emulator control {path}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    def _get(self, path: str) -> Any:
        response = self._session.get(f"{self.base_url}/_emulator/{path}", timeout=self.timeout)
        if response.status_code != 200:
            raise RuntimeError(f"emulator control {path}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    # setup
    def add_org(self, organization_id: str, **options: Any) -> dict[str, Any]:
        """seed, customers, invoices, country_code, no_phone_share, vendors, old_customer_share, open_share; profile
        ("observed"|"documented"; default: the configured one), daily_limit, rate_limit_headers."""
        return dict(self._post("orgs", {"organization_id": organization_id, **options}))

    def add_refresh_token(self, refresh_token: str, organizations: list[str] | None = None) -> None:
        self._post("refresh-tokens", {"refresh_token": refresh_token, "organizations": organizations})

    def revoke_refresh_token(self, refresh_token: str) -> None:
        self._post("refresh-tokens/revoke", {"refresh_token": refresh_token})

    def expire_access_tokens(self) -> None:
        self._post("access-tokens/expire")

    def configure(self, **settings: Any) -> None:
        """token_ttl_seconds, hang_seconds, latency_seconds (every API answer), refresh_limit={calls,
        window_seconds}|None, daily_limit, max_concurrent, profile ("observed"|"documented", for
        organizations added later), rate_limit_headers (True/False, None: as each profile has it)."""
        self._post("settings", settings)

    def configure_org(self, organization_id: str, **options: Any) -> None:
        """Change one organization's profile, daily_limit, rate_limit_headers (None: the setting applies),
        rate_limit_header_values ({"X-Rate-Limit-Reset": "-5"}: sent instead of the true ones),
        ignore_undocumented, or webhook ({urls: {invoice|contact: url with its placeholder}, headers}: a
        Zoho-shaped POST when such a record changes)."""
        self._post(f"orgs/{organization_id}/options", options)

    def advance_clock(self, seconds: float) -> None:
        self._post("clock", {"advance_seconds": seconds})

    def reset_clock(self) -> None:
        """Real time again (no offset, not frozen)."""
        self._post("clock", {"reset": True})

    def freeze_clock(self, frozen: bool = True) -> None:
        """While frozen, every change gets the same modification time (a bulk edit within one second)."""
        self._post("clock", {"frozen": frozen})

    # faults and limits
    def inject(
        self, endpoint: str, kind: str, count: int = 1, organization_id: str | None = None, after: int = 0
    ) -> None:
        """The next `count` calls to `endpoint` (after letting `after` through) get fault `kind`."""
        self._post(
            "faults",
            {"endpoint": endpoint, "kind": kind, "count": count, "organization_id": organization_id, "after": after},
        )

    def random_faults(self, rate: float, kinds: list[str], seed: int = 0, endpoints: list[str] | None = None) -> None:
        self._post("faults/random", {"rate": rate, "kinds": kinds, "seed": seed, "endpoints": endpoints})

    def clear_faults(self) -> None:
        self._post("faults/clear")

    def rate_limit(self, calls: int | None, window_seconds: float = 60.0) -> None:
        self._post("rate-limit", {"calls": calls, "window_seconds": window_seconds})

    def stats(self) -> dict[str, Any]:
        return dict(self._get("stats"))

    def books_calls(self, organization_id: str) -> int:
        """Books API calls (the token endpoint aside) the organization has received."""
        by_org = self.stats().get("by_org", {}).get(organization_id, {})
        return int(sum(count for endpoint, count in by_org.items() if endpoint != "token"))

    def off_reference(self, organization_id: str) -> list[str]:
        """The organization's requests that Zoho's reference does not document (kept for the documented profile),
        apart from other tests' organizations on the same emulator."""
        return list(self.stats().get("off_reference_by_org", {}).get(organization_id, []))

    def webhooks_sent(self) -> list[dict[str, Any]]:
        """Every webhook the emulator posted: kind, id and the status it got back (None: no answer)."""
        return list(self._get("webhooks/sent"))

    def quota(self, organization_id: str) -> dict[str, Any]:
        """The daily quota as the X-Rate-Limit-* headers report it: limit, used, remaining, reset_seconds, enforced."""
        return dict(self._get(f"orgs/{organization_id}/quota"))

    def spend_calls(self, organization_id: str, calls: int) -> dict[str, Any]:
        """Spend the organization's daily calls as another app on it would; returns the quota after."""
        return dict(self._post(f"orgs/{organization_id}/spend-calls", {"calls": calls}))

    def reset_stats(self) -> None:
        self._post("stats/reset")

    # records
    def snapshot(self, organization_id: str) -> dict[str, Any]:
        return dict(self._get(f"orgs/{organization_id}/snapshot"))

    def create_contact(self, organization_id: str, **fields: Any) -> dict[str, Any]:
        return dict(self._post(f"orgs/{organization_id}/contacts", fields))

    def update_contact(self, organization_id: str, contact_id: str, **fields: Any) -> dict[str, Any]:
        return dict(self._post(f"orgs/{organization_id}/contacts/{contact_id}", fields))

    def update_contact_person(
        self, organization_id: str, contact_id: str, person_id: str, **fields: Any
    ) -> dict[str, Any]:
        """Edit one contact person; returns the contact. A communication_preference dict is merged."""
        return dict(self._post(f"orgs/{organization_id}/contacts/{contact_id}/persons/{person_id}", fields))

    def set_communication_preference(
        self,
        organization_id: str,
        contact_id: str,
        person_id: str,
        *,
        is_sms_enabled: bool | None = None,
        is_whatsapp_enabled: bool | None = None,
    ) -> dict[str, Any]:
        """Turn a person's SMS and/or WhatsApp on or off (None: leave as is); returns the contact."""
        preference = {"is_sms_enabled": is_sms_enabled, "is_whatsapp_enabled": is_whatsapp_enabled}
        chosen = {key: value for key, value in preference.items() if value is not None}
        return self.update_contact_person(organization_id, contact_id, person_id, communication_preference=chosen)

    def delete_contact(self, organization_id: str, contact_id: str) -> None:
        self._post(f"orgs/{organization_id}/contacts/{contact_id}/delete")

    def restore_contact(self, organization_id: str, contact_id: str) -> dict[str, Any]:
        return dict(self._post(f"orgs/{organization_id}/contacts/{contact_id}/restore"))

    def create_invoice(self, organization_id: str, customer_id: str, **fields: Any) -> dict[str, Any]:
        return dict(self._post(f"orgs/{organization_id}/invoices", {"customer_id": customer_id, **fields}))

    def update_invoice(self, organization_id: str, invoice_id: str, **fields: Any) -> dict[str, Any]:
        return dict(self._post(f"orgs/{organization_id}/invoices/{invoice_id}", fields))

    def pay_invoice(self, organization_id: str, invoice_id: str) -> dict[str, Any]:
        return dict(self._post(f"orgs/{organization_id}/invoices/{invoice_id}/pay"))

    def void_invoice(self, organization_id: str, invoice_id: str) -> dict[str, Any]:
        return dict(self._post(f"orgs/{organization_id}/invoices/{invoice_id}/void"))

    def delete_invoice(self, organization_id: str, invoice_id: str) -> None:
        self._post(f"orgs/{organization_id}/invoices/{invoice_id}/delete")
