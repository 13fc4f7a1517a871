"""One request in, one response out: routing, faults, authorization, limits, call counts.

The caller (the Emulator facade) holds the emulator's lock for the whole call; nothing here
sleeps: the server applies `delay_seconds` and calls `Response.finish()` after sending.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs

from zoho_emulator.faults import Endpoint, FaultInjector, FaultKind, canned, corrupt
from zoho_emulator.limits import Limits
from zoho_emulator.listing import list_payload
from zoho_emulator.oauth import OAuth
from zoho_emulator.profiles import RULES, RecordKind
from zoho_emulator.reference import problems
from zoho_emulator.rendering import contact_detail, invoice_detail, organization
from zoho_emulator.settings import Settings
from zoho_emulator.store import DataStore, StoredOrg
from zoho_emulator.wire import ApiError, Response

_RESOURCES = ("contacts", "invoices", "organizations", "customerpayments")


@dataclass(frozen=True)
class ApiCall:
    """A Books API request, routed."""

    endpoint: Endpoint
    resource_id: str | None
    organization_id: str | None
    params: dict[str, str]
    authorization: str


class CallLog:
    """Calls per (organization or "-", endpoint), answers per status, and the last good answer of
    each endpoint (for the repeat_page fault)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.statuses: Counter[str] = Counter()
        self.last_response: dict[tuple[str, str], Response] = {}
        self.off_reference: dict[str, list[str]] = {}  # per organization, requests off the reference (documented)

    def stats(self) -> dict[str, Any]:
        by_endpoint: Counter[str] = Counter()
        by_org: dict[str, dict[str, int]] = {}
        for (organization_id, endpoint), count in self.calls.items():
            by_endpoint[endpoint] += count
            by_org.setdefault(organization_id, {})[endpoint] = count
        return {
            "total": sum(self.calls.values()),
            "by_endpoint": dict(by_endpoint),
            "by_org": by_org,
            "statuses": dict(self.statuses),
            "off_reference": [text for texts in self.off_reference.values() for text in texts],
            "off_reference_by_org": {organization: list(texts) for organization, texts in self.off_reference.items()},
        }

    def reset(self) -> None:
        self.calls.clear()
        self.statuses.clear()
        self.off_reference.clear()


def route(method: str, path: str) -> tuple[Endpoint, str | None] | None:
    """(endpoint, resource id) of a Books API path, or None for an unknown URL."""
    if method != "GET" or not path.startswith("/books/v3/"):
        return None
    parts = [p for p in path[len("/books/v3/") :].split("/") if p]
    if not parts or len(parts) > 2 or parts[0] not in _RESOURCES:
        return None
    if parts[0] == "customerpayments" and len(parts) == 1:
        return None  # one payment by id only
    endpoint = cast(Endpoint, f"{parts[0]}.{'list' if len(parts) == 1 else 'get'}")
    return endpoint, parts[1] if len(parts) == 2 else None


def _last_values(query: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}


@dataclass
class Router:
    """Turns requests into answers using the store, OAuth, limits and the fault injector."""

    lock: threading.RLock
    settings: Settings
    store: DataStore
    oauth: OAuth
    limits: Limits
    faults: FaultInjector
    log: CallLog

    def handle(self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]) -> Response:
        """One HTTP request (headers keyed in lower case) in, one response out."""
        params = _last_values(query)
        if path.startswith("/_emulator/"):
            raise LookupError("control requests are handled by the server")
        if method == "POST" and path == "/oauth/v2/token":
            form = dict(params)
            if body and "application/x-www-form-urlencoded" in headers.get("content-type", ""):
                form.update(_last_values(body.decode("utf-8")))
            return self._with_faults("token", None, lambda: self.oauth.token(form))
        routed = route(method, path)
        if routed is None:
            return Response.json(404, {"code": 5, "message": "Invalid URL Passed"})
        endpoint, resource_id = routed
        call = ApiCall(endpoint, resource_id, params.get("organization_id"), params, headers.get("authorization", ""))
        return self._with_faults(endpoint, call.organization_id, lambda: self._api(call))

    def _with_faults(self, endpoint: Endpoint, organization_id: str | None, serve: Callable[[], Response]) -> Response:
        """Count the call, apply a fault (instead of or on top of the real answer) and the latency."""
        log_key = (organization_id or "-", endpoint)
        self.log.calls[log_key] += 1
        fault: FaultKind | None = self.faults.take(endpoint, organization_id)
        response = canned(fault, endpoint, self.log.last_response.get(log_key)) if fault else None
        if response is None:
            response = serve()
            if fault == "hang":
                response.delay_seconds = self.settings.hang_seconds
            elif fault == "delete_after_page":
                self._delete_first_row(endpoint, organization_id, response)
            elif fault is not None:
                response = corrupt(fault, endpoint, response)
        if endpoint != "token" and not response.delay_seconds:
            response.delay_seconds = self.settings.latency_seconds
        self.log.statuses[str(response.status)] += 1
        if response.status == 200 and fault is None:
            self.log.last_response[log_key] = response
        return response

    def _delete_first_row(self, endpoint: Endpoint, organization_id: str | None, response: Response) -> None:
        """A deletion in Zoho right after a page was served: the rows after it move up one place."""
        if response.status != 200 or organization_id is None or endpoint not in ("contacts.list", "invoices.list"):
            return
        rows = json.loads(response.body).get(endpoint.split(".")[0]) or []
        if rows:
            if endpoint == "contacts.list":
                self.store.delete_contact(organization_id, str(rows[0]["contact_id"]))
            else:
                self.store.delete_invoice(organization_id, str(rows[0]["invoice_id"]))

    def _api(self, call: ApiCall) -> Response:
        """Authorize, pass the limits, answer. Once the organization is known its answers carry the
        rate-limit headers; once admitted, the call holds a concurrency slot until it is sent."""
        try:
            stored = self._authorize(call)
        except ApiError as error:
            return error.response()
        if stored is None:
            return Response.json(200, self._organizations())
        refused = self._undocumented(call, stored)
        if refused is not None:
            return refused
        try:
            self.limits.admit(stored.data.organization_id, stored.options, self.store.clock.now())
        except ApiError as error:
            return self._with_quota(stored, error.response())
        try:
            response = Response.json(200, self._payload(call, stored))
        except ApiError as error:
            response = error.response()
        response.on_finish = self._releaser(stored.data.organization_id)
        return self._with_quota(stored, response)

    def _undocumented(self, call: ApiCall, stored: StoredOrg) -> Response | None:
        """An organization of the `documented` profile takes only what Zoho's reference documents (and the
        undocumented parameters the README names): anything else is a 400, remembered for the tests."""
        if stored.options.profile != "documented":
            return None
        resource, _ = call.endpoint.split(".")
        path = f"/{resource}" + (f"/{call.resource_id}" if call.resource_id else "")
        found = problems(path, call.params)
        if not found:
            return None
        kept = self.log.off_reference.setdefault(stored.data.organization_id, [])
        kept[:] = [*kept, *(f"GET {path}: {problem}" for problem in found)][-100:]
        return Response.json(400, {"code": 2, "message": f"Invalid value passed: {found[0]}"})

    def _releaser(self, organization_id: str) -> Callable[[], None]:
        def release() -> None:
            with self.lock:
                self.limits.release(organization_id)

        return release

    def _with_quota(self, stored: StoredOrg, response: Response) -> Response:
        if self.limits.headers_on(stored.options):
            now = self.store.clock.now()
            response.headers.update(self.limits.quota(stored.data.organization_id, stored.options, now).headers())
            response.headers.update(stored.options.rate_limit_header_values or {})
        return response

    def _authorize(self, call: ApiCall) -> StoredOrg | None:
        """The organization the call may use (None for GET /organizations), or Zoho's error."""
        grant = self.oauth.authorize(call.authorization)
        if call.endpoint == "organizations.list":
            return None
        if not call.organization_id:
            raise ApiError(400, 6003, "Please send the organization_id.")
        stored = self.store.orgs.get(call.organization_id)
        if stored is None or (grant.organizations is not None and call.organization_id not in grant.organizations):
            raise ApiError(400, 6041, "This user is not associated with this organization.")
        return stored

    def _organizations(self) -> dict[str, Any]:
        orgs = [organization(stored) for stored in self.store.orgs.values()]
        return {"code": 0, "message": "success", "organizations": orgs}

    def _payload(self, call: ApiCall, stored: StoredOrg) -> dict[str, Any]:
        org = stored.data
        rules = RULES[stored.options.profile]
        if call.endpoint == "organizations.get":
            if call.resource_id != org.organization_id:
                raise ApiError(404, 1002, "Organization does not exist.")
            return {"code": 0, "message": "success", "organization": organization(stored)}
        if call.endpoint == "contacts.get":
            contact = org.contacts.get(call.resource_id or "")
            if contact is None:
                raise ApiError(404, 1002, "Contact does not exist.")
            return {"code": 0, "message": "success", "contact": contact_detail(org, contact)}
        if call.endpoint == "invoices.get":
            invoice = org.invoices.get(call.resource_id or "")
            if invoice is None:
                raise ApiError(404, 1002, "Invoice does not exist.")
            return {"code": 0, "message": "success", "invoice": invoice_detail(org, invoice)}
        if call.endpoint == "customerpayments.get":
            payment = org.payments.get(call.resource_id or "")
            if payment is None:
                raise ApiError(404, 1002, "Payment does not exist.")
            return {"code": 0, "message": "success", "payment": payment}
        kind = cast(RecordKind, call.endpoint.split(".", maxsplit=1)[0])
        listing = rules.lists[kind]
        if stored.options.ignore_undocumented:
            listing = listing.without_undocumented(kind)
        return list_payload(self.store, stored, kind, call.params, listing)
