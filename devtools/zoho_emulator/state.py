"""The emulator's brain: organizations, OAuth tokens, faults, limits and call counts.

`Emulator.handle` turns one HTTP request into one response; the HTTP server only moves bytes.
Everything is guarded by one lock, so the threaded server and the control API can race safely.
"""

from __future__ import annotations

import bisect
import json
import random
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any
from urllib.parse import parse_qs

from zoho_emulator.dataset import Generator, OrgData, generate, zoho_time

FAULT_KINDS = (
    "429",  # per-minute rate limit (code 44)
    "daily_limit",  # daily quota (code 45)
    "500",
    "503",
    "401",  # access token rejected (code 57)
    "hang",  # no answer for `hang_seconds`, then the normal answer (clients should time out first)
    "malformed",  # truncated JSON with status 200
    "html",  # a non-JSON page with status 200
    "code_nonzero",  # status 200 with {"code": 1, ...}
    "missing_key",  # status 200, code 0, but without the list/object key
    "empty_page_more",  # a list page with no rows and has_more_page true
    "repeat_page",  # the previous answer of this endpoint again
    "wrong_types",  # rows (or the detail object) with nulls and wrong types everywhere
    "nulls",  # rows (or the detail object) whose every value is null
    "duplicate_rows",  # a list page where every row appears twice in a row
)
ENDPOINTS = (
    "token",
    "organizations.list",
    "organizations.get",
    "contacts.list",
    "contacts.get",
    "invoices.list",
    "invoices.get",
)


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json;charset=UTF-8"
    delay_seconds: float = 0.0

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


@dataclass
class FaultRule:
    endpoint: str  # one of ENDPOINTS or "*"
    kind: str
    remaining: int
    organization_id: str | None = None
    after: int = 0  # let this many matching calls through first ("crash after page k")


@dataclass
class RandomFaults:
    rate: float
    kinds: list[str]
    rng: random.Random
    endpoints: set[str] | None = None


@dataclass
class RefreshToken:
    organizations: set[str] | None  # None: every organization
    revoked: bool = False
    refreshes: deque[float] = field(default_factory=deque)


@dataclass
class AccessToken:
    refresh_token: str
    expires_at: datetime


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _parse_zoho_time(raw: str) -> datetime:
    text = raw.strip().replace(" ", "+")  # a '+' sent unencoded in a query string arrives as a space
    if text.endswith("Z"):
        text = text[:-1] + "+0000"
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


class Emulator:
    """A Zoho Books stand-in holding any number of organizations."""

    def __init__(self, client_id: str = "emulator-client", client_secret: str = "emulator-secret") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.lock = threading.RLock()
        self.orgs: dict[str, OrgData] = {}
        self.generators: dict[str, Generator] = {}
        self.deleted_contacts: dict[str, dict[str, dict[str, Any]]] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.clock_offset = timedelta()
        self.frozen_at: datetime | None = None
        self.token_ttl_seconds = 3600
        self.hang_seconds = 3.0
        self.latency_seconds = 0.0  # added to every API answer, to make a run last
        self.refresh_limit: tuple[int, float] | None = (10, 600.0)
        self.faults: list[FaultRule] = []
        self.random_faults: RandomFaults | None = None
        self.rate_limit: tuple[int, float] | None = None
        self.arrivals: dict[str, deque[float]] = {}
        self.daily_limit: int | None = None
        self.daily_calls: Counter[tuple[str, date]] = Counter()
        self.max_concurrent: int | None = None
        self.in_flight: Counter[str] = Counter()
        self.calls: Counter[tuple[str, str]] = Counter()  # (organization or "-", endpoint)
        self.statuses: Counter[str] = Counter()
        self.last_response: dict[tuple[str, str], Response] = {}
        self._sorted: dict[tuple[str, str, str, str], list[tuple[Any, str]]] = {}

    # ----------------------------------------------------------------------------- clock and data

    def now(self) -> datetime:
        if self.frozen_at is not None:
            return self.frozen_at + self.clock_offset
        return datetime.now(UTC) + self.clock_offset

    def freeze_clock(self, frozen: bool) -> None:
        with self.lock:
            if frozen and self.frozen_at is None:
                self.frozen_at = datetime.now(UTC)
            elif not frozen and self.frozen_at is not None:
                self.frozen_at = None

    def _tick(self) -> datetime:
        """A modification time, whole seconds as Zoho keeps them."""
        return self.now().replace(microsecond=0)

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
    ) -> OrgData:
        with self.lock:
            org = generate(
                organization_id,
                seed=seed,
                customers=customers,
                invoices=invoices,
                now=self.now(),
                country_code=country_code,
                no_phone_share=no_phone_share,
                vendors=vendors,
                old_customer_share=old_customer_share,
            )
            self.orgs[organization_id] = org
            self.generators[organization_id] = Generator(org, seed + 7919, no_phone_share=no_phone_share)
            self.deleted_contacts[organization_id] = {}
            self._invalidate(organization_id)
            return org

    def _org(self, organization_id: str) -> OrgData:
        org = self.orgs.get(organization_id)
        if org is None:
            raise KeyError(f"no organization {organization_id}")
        return org

    def _invalidate(self, organization_id: str) -> None:
        for key in [key for key in self._sorted if key[0] == organization_id]:
            del self._sorted[key]

    @staticmethod
    def _sync_contact_fields(contact: dict[str, Any]) -> None:
        """The contact-level email/phone/mobile mirror the primary person, as in Zoho."""
        persons = contact.get("contact_persons")
        people = [p for p in persons if isinstance(p, dict)] if isinstance(persons, list) else []
        primary = next((p for p in people if p.get("is_primary_contact")), None)
        if primary is not None:
            for key in ("email", "phone", "mobile"):
                contact[key] = primary.get(key, "")

    def update_contact(self, organization_id: str, contact_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Edit a contact. `phone`/`mobile`/`email` go to the primary person (else the first, else the contact)."""
        with self.lock:
            org = self._org(organization_id)
            contact = org.contacts[contact_id]
            for key, value in changes.items():
                persons = contact.get("contact_persons")
                people = [p for p in persons if isinstance(p, dict)] if isinstance(persons, list) else []
                target = next((p for p in people if p.get("is_primary_contact")), people[0] if people else None)
                if key in ("phone", "mobile", "email"):
                    (target if target is not None else contact)[key] = value
                elif key == "billing_country":
                    if not isinstance(contact.get("billing_address"), dict):
                        contact["billing_address"] = {}
                    contact["billing_address"]["country"] = value
                else:
                    contact[key] = value
            self._sync_contact_fields(contact)
            contact["last_modified_time"] = self._tick()
            self._invalidate(organization_id)
            return contact

    def create_contact(self, organization_id: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.lock:
            org = self._org(organization_id)
            contact = self.generators[organization_id].contact(self._tick())
            org.contacts[contact["contact_id"]] = contact
            self._invalidate(organization_id)
        if changes:
            contact = self.update_contact(organization_id, contact["contact_id"], changes)
        return contact

    def delete_contact(self, organization_id: str, contact_id: str) -> None:
        with self.lock:
            org = self._org(organization_id)
            self.deleted_contacts[organization_id][contact_id] = org.contacts.pop(contact_id)
            self._invalidate(organization_id)

    def restore_contact(self, organization_id: str, contact_id: str) -> dict[str, Any]:
        with self.lock:
            org = self._org(organization_id)
            contact = self.deleted_contacts[organization_id].pop(contact_id)
            contact["last_modified_time"] = self._tick()
            org.contacts[contact_id] = contact
            self._invalidate(organization_id)
            return contact

    def create_invoice(
        self, organization_id: str, customer_id: str, changes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with self.lock:
            org = self._org(organization_id)
            customer = org.contacts.get(customer_id) or self.deleted_contacts[organization_id].get(customer_id)
            if customer is None:
                customer = {"contact_id": customer_id, "contact_name": f"Customer {customer_id}"}
            invoice = self.generators[organization_id].invoice(customer, self.now().date(), self._tick())
            invoice["status"] = "sent"
            invoice.update(changes or {})
            if "balance" not in (changes or {}):
                invoice["balance"] = 0.0 if invoice["status"] in ("paid", "void") else invoice["total"]
            org.invoices[invoice["invoice_id"]] = invoice
            self._invalidate(organization_id)
            return invoice

    def update_invoice(self, organization_id: str, invoice_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            invoice = self._org(organization_id).invoices[invoice_id]
            invoice.update(changes)
            invoice["last_modified_time"] = self._tick()
            self._invalidate(organization_id)
            return invoice

    def pay_invoice(self, organization_id: str, invoice_id: str) -> dict[str, Any]:
        return self.update_invoice(organization_id, invoice_id, {"status": "paid", "balance": 0.0})

    def void_invoice(self, organization_id: str, invoice_id: str) -> dict[str, Any]:
        return self.update_invoice(organization_id, invoice_id, {"status": "void", "balance": 0.0})

    def delete_invoice(self, organization_id: str, invoice_id: str) -> None:
        with self.lock:
            del self._org(organization_id).invoices[invoice_id]
            self._invalidate(organization_id)

    # ----------------------------------------------------------------------------- tokens

    def add_refresh_token(self, token: str, organizations: list[str] | None = None) -> None:
        with self.lock:
            self.refresh_tokens[token] = RefreshToken(set(organizations) if organizations is not None else None)

    def revoke_refresh_token(self, token: str) -> None:
        with self.lock:
            if token in self.refresh_tokens:
                self.refresh_tokens[token].revoked = True
            for access, grant in list(self.access_tokens.items()):
                if grant.refresh_token == token:
                    del self.access_tokens[access]

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    # ----------------------------------------------------------------------------- faults and limits

    def add_fault(
        self, endpoint: str, kind: str, count: int = 1, organization_id: str | None = None, after: int = 0
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {', '.join(ENDPOINTS)} or *")
        with self.lock:
            self.faults.append(FaultRule(endpoint, kind, count, organization_id, after))

    def set_random_faults(
        self, rate: float, kinds: list[str], seed: int = 0, endpoints: list[str] | None = None
    ) -> None:
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        with self.lock:
            self.random_faults = (
                RandomFaults(rate, list(kinds), random.Random(seed), set(endpoints) if endpoints else None)
                if rate > 0
                else None
            )

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()
            self.random_faults = None

    def set_rate_limit(self, calls: int | None, window_seconds: float = 60.0) -> None:
        with self.lock:
            self.rate_limit = (calls, window_seconds) if calls else None
            self.arrivals.clear()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            by_endpoint: Counter[str] = Counter()
            by_org: dict[str, dict[str, int]] = {}
            for (organization, endpoint), count in self.calls.items():
                by_endpoint[endpoint] += count
                by_org.setdefault(organization, {})[endpoint] = count
            return {
                "total": sum(self.calls.values()),
                "by_endpoint": dict(by_endpoint),
                "by_org": by_org,
                "statuses": dict(self.statuses),
            }

    def reset_stats(self) -> None:
        with self.lock:
            self.calls.clear()
            self.statuses.clear()

    def _take_fault(self, endpoint: str, organization_id: str | None) -> str | None:
        for rule in self.faults:
            if rule.remaining <= 0 or rule.endpoint not in ("*", endpoint):
                continue
            if rule.organization_id is not None and rule.organization_id != organization_id:
                continue
            if rule.after > 0:
                rule.after -= 1
                continue
            rule.remaining -= 1
            self.faults = [r for r in self.faults if r.remaining > 0]
            return rule.kind
        chaos = self.random_faults
        if (
            chaos is not None
            and (chaos.endpoints is None or endpoint in chaos.endpoints)
            and chaos.rng.random() < chaos.rate
        ):
            return chaos.rng.choice(chaos.kinds)
        return None

    # ----------------------------------------------------------------------------- requests

    def handle(self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]) -> Response:
        """One HTTP request in, one response out (the server sleeps `delay_seconds` first)."""
        params = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
        if path.startswith("/_emulator/"):
            raise LookupError("control requests are handled by the server")
        if method == "POST" and path == "/oauth/v2/token":
            form = dict(params)
            content_type = headers.get("content-type", "")
            if body and "application/x-www-form-urlencoded" in content_type:
                form.update({k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()})
            return self._with_faults("token", None, lambda: self._token(form))
        route = self._route(method, path)
        if route is None:
            return Response.json(404, {"code": 5, "message": "Invalid URL Passed"})
        endpoint, resource_id = route
        organization_id = params.get("organization_id")
        return self._with_faults(
            endpoint,
            organization_id,
            lambda: self._api(endpoint, resource_id, organization_id, params, headers),
        )

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, str | None] | None:
        if method != "GET" or not path.startswith("/books/v3/"):
            return None
        parts = [p for p in path[len("/books/v3/") :].split("/") if p]
        if len(parts) == 1 and parts[0] in ("contacts", "invoices", "organizations"):
            return f"{parts[0]}.list", None
        if len(parts) == 2 and parts[0] in ("contacts", "invoices", "organizations"):
            return f"{parts[0]}.get", parts[1]
        return None

    def _with_faults(self, endpoint: str, organization_id: str | None, serve: Any) -> Response:
        with self.lock:
            self.calls[(organization_id or "-", endpoint)] += 1
            fault = self._take_fault(endpoint, organization_id)
            previous = self.last_response.get((organization_id or "-", endpoint))
        response = self._fault_response(fault, endpoint, previous) if fault else None
        if response is None:
            response = serve()
            if fault == "hang":
                response.delay_seconds = self.hang_seconds
            elif fault is not None:
                response = self._corrupt(fault, endpoint, response)
        if endpoint != "token" and not response.delay_seconds:
            response.delay_seconds = self.latency_seconds
        with self.lock:
            self.statuses[str(response.status)] += 1
            if response.status == 200 and fault is None:
                self.last_response[(organization_id or "-", endpoint)] = response
        return response

    @staticmethod
    def _fault_response(fault: str, endpoint: str, previous: Response | None) -> Response | None:
        if fault == "429":
            return Response.json(
                429,
                {"code": 44, "message": "For security reasons your organization has been blocked as it have exceeded "
                 "the maximum number of requests per minute that can originate from an organization."},
            )  # fmt: skip
        if fault == "daily_limit":
            return Response.json(429, {"code": 45, "message": "The API call for this organization has exceeded the "
                                       "maximum call rate limit."})  # fmt: skip
        if fault in ("500", "503"):
            return Response.json(int(fault), {"code": 500, "message": "Internal server error"})
        if fault == "401":
            return Response.json(401, {"code": 57, "message": "You are not authorized to perform this operation"})
        if fault == "html":
            return Response(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        if fault == "code_nonzero":
            return Response.json(200, {"code": 1, "message": "Unknown error occurred"})
        if fault == "repeat_page" and previous is not None:
            return Response(previous.status, previous.body, previous.content_type)
        return None

    @staticmethod
    def _corrupt(fault: str, endpoint: str, response: Response) -> Response:
        if response.status != 200:
            return response
        if fault == "malformed":
            return Response(200, response.body[: max(1, len(response.body) // 2)], response.content_type)
        payload = json.loads(response.body)
        key = endpoint.split(".", maxsplit=1)[0]
        if endpoint.endswith(".get"):
            key = key[:-1]  # contact, invoice, organization
        if fault == "missing_key":
            payload.pop(key, None)
        elif fault == "empty_page_more" and endpoint.endswith(".list"):
            payload[key] = []
            payload.setdefault("page_context", {})["has_more_page"] = True
        elif fault == "wrong_types" and endpoint.endswith(".list"):
            payload[key] = [
                {k: (None if i % 2 else 12345) for i, k in enumerate(row)} if n % 2 else None
                for n, row in enumerate(payload.get(key) or [{}])
            ]
        elif fault == "wrong_types" and isinstance(payload.get(key), dict):
            payload[key] = {k: ([1, 2] if i % 2 else 12345) for i, k in enumerate(payload[key])}
        elif fault == "nulls" and endpoint.endswith(".list"):
            payload[key] = [dict.fromkeys(row) for row in payload.get(key) or []]
        elif fault == "nulls" and isinstance(payload.get(key), dict):
            payload[key] = dict.fromkeys(payload[key])
        elif fault == "duplicate_rows" and endpoint.endswith(".list"):
            payload[key] = [row for row in payload.get(key) or [] for _ in range(2)]
        return Response.json(200, payload)

    def _token(self, form: dict[str, str]) -> Response:
        with self.lock:
            if form.get("grant_type") != "refresh_token":
                return Response.json(200, {"error": "unsupported_grant_type"})
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return Response.json(200, {"error": "invalid_client"})
            token = form.get("refresh_token", "")
            grant = self.refresh_tokens.get(token)
            if grant is None or grant.revoked:
                return Response.json(200, {"error": "invalid_code"})
            if self.refresh_limit is not None:
                limit, window = self.refresh_limit
                moment = time.monotonic()
                while grant.refreshes and grant.refreshes[0] <= moment - window:
                    grant.refreshes.popleft()
                if len(grant.refreshes) >= limit:
                    return Response.json(
                        400,
                        {"error_description": "You have made too many requests continuously. Please try again after "
                         "some time.", "error": "Access Denied", "status": "failure"},
                    )  # fmt: skip
                grant.refreshes.append(moment)
            access = "1000." + secrets.token_hex(16)
            self.access_tokens[access] = AccessToken(token, self.now() + timedelta(seconds=self.token_ttl_seconds))
            return Response.json(
                200,
                {"access_token": access, "api_domain": "https://www.zohoapis.com", "token_type": "Bearer",
                 "expires_in": self.token_ttl_seconds},
            )  # fmt: skip

    def _api(
        self,
        endpoint: str,
        resource_id: str | None,
        organization_id: str | None,
        params: dict[str, str],
        headers: dict[str, str],
    ) -> Response:
        admitted = False
        try:
            self._authorize(endpoint, organization_id, headers)
            admitted = endpoint != "organizations.list"
            with self.lock:
                if endpoint == "organizations.list":
                    return Response.json(200, {"code": 0, "message": "success", "organizations": [
                        self._organization(org) for org in self.orgs.values()]})  # fmt: skip
                org = self._org(organization_id or "")
                if endpoint == "organizations.get":
                    if resource_id != org.organization_id:
                        raise ApiError(404, 1002, "Organization does not exist.")
                    return Response.json(
                        200, {"code": 0, "message": "success", "organization": self._organization(org)}
                    )
                if endpoint == "contacts.get":
                    contact = org.contacts.get(resource_id or "")
                    if contact is None:
                        raise ApiError(404, 1002, "Contact does not exist.")
                    return Response.json(
                        200, {"code": 0, "message": "success", "contact": self._contact_detail(org, contact)}
                    )
                if endpoint == "invoices.get":
                    invoice = org.invoices.get(resource_id or "")
                    if invoice is None:
                        raise ApiError(404, 1002, "Invoice does not exist.")
                    return Response.json(
                        200, {"code": 0, "message": "success", "invoice": self._invoice_detail(org, invoice)}
                    )
                return self._list(org, endpoint, params)
        except ApiError as error:
            return Response.json(error.status, {"code": error.code, "message": error.message})
        finally:
            if admitted and organization_id:
                with self.lock:
                    self.in_flight[organization_id] -= 1

    def _authorize(self, endpoint: str, organization_id: str | None, headers: dict[str, str]) -> None:
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Zoho-oauthtoken "):
            raise ApiError(401, 57, "You are not authorized to perform this operation")
        with self.lock:
            grant = self.access_tokens.get(authorization[len("Zoho-oauthtoken ") :])
            if grant is None or grant.expires_at <= self.now():
                raise ApiError(401, 57, "You are not authorized to perform this operation")
            if endpoint == "organizations.list":
                return
            if not organization_id:
                raise ApiError(400, 6003, "Please send the organization_id.")
            refresh = self.refresh_tokens[grant.refresh_token]
            if organization_id not in self.orgs or (
                refresh.organizations is not None and organization_id not in refresh.organizations
            ):
                raise ApiError(400, 6041, "This user is not associated with this organization.")
            if self.max_concurrent is not None and self.in_flight[organization_id] >= self.max_concurrent:
                raise ApiError(429, 1070, "You have reached the maximum number of in process requests allowed.")
            if self.rate_limit is not None:
                calls, window = self.rate_limit
                arrivals = self.arrivals.setdefault(organization_id, deque())
                moment = time.monotonic()
                while arrivals and arrivals[0] <= moment - window:
                    arrivals.popleft()
                if len(arrivals) >= calls:
                    raise ApiError(429, 44, "For security reasons your organization has been blocked as it have "
                                   "exceeded the maximum number of requests per minute.")  # fmt: skip
                arrivals.append(moment)
            if self.daily_limit is not None:
                key = (organization_id, self.now().date())
                if self.daily_calls[key] >= self.daily_limit:
                    raise ApiError(429, 45, f"The API call for this organization has exceeded the maximum call rate "
                                   f"limit of {self.daily_limit}.")  # fmt: skip
                self.daily_calls[key] += 1
            self.in_flight[organization_id] += 1

    # ----------------------------------------------------------------------------- rendering

    @staticmethod
    def _organization(org: OrgData) -> dict[str, Any]:
        return {
            "organization_id": org.organization_id,
            "name": org.name,
            "country": org.country_name,
            "country_code": org.country_code,
            "time_zone": org.timezone,
            "currency_code": org.currency_code,
            "is_org_active": True,
        }

    @staticmethod
    def _times(org: OrgData, record: dict[str, Any]) -> dict[str, Any]:
        out = dict(record)
        for key in ("created_time", "last_modified_time"):
            if isinstance(out.get(key), datetime):
                out[key] = zoho_time(out[key], org.tz_offset_minutes)
        return out

    def _contact_row(self, org: OrgData, contact: dict[str, Any]) -> dict[str, Any]:
        row = self._times(org, contact)
        row.pop("contact_persons", None)
        row.pop("billing_address", None)
        return row

    def _contact_detail(self, org: OrgData, contact: dict[str, Any]) -> dict[str, Any]:
        detail = self._times(org, contact)
        persons = contact.get("contact_persons")
        detail["contact_persons"] = [dict(p) if isinstance(p, dict) else p for p in persons or []]
        billing = contact.get("billing_address")
        detail["billing_address"] = dict(billing) if isinstance(billing, dict) else billing
        return detail

    def _invoice_detail(self, org: OrgData, invoice: dict[str, Any]) -> dict[str, Any]:
        detail = self._times(org, invoice)
        customer = org.contacts.get(invoice["customer_id"])
        persons = customer["contact_persons"] if customer else []
        detail["contact_persons_details"] = [
            {k: p.get(k) for k in ("contact_person_id", "first_name", "last_name", "email", "phone", "mobile",
                                   "is_primary_contact")}
            for p in persons
        ]  # fmt: skip
        detail["billing_address"] = dict(customer["billing_address"]) if customer else {}
        return detail

    def _sorted_records(self, org: OrgData, kind: str, column: str, order: str) -> list[tuple[Any, str]]:
        key = (org.organization_id, kind, column, order)
        cached = self._sorted.get(key)
        if cached is None:
            records = org.contacts if kind == "contacts" else org.invoices
            cached = sorted(
                ((self._sort_value(record, column), record_id) for record_id, record in records.items()),
                reverse=(order == "D"),
            )
            self._sorted[key] = cached
        return cached

    @staticmethod
    def _sort_value(record: dict[str, Any], column: str) -> Any:
        value = record.get(column)
        if isinstance(value, str):
            return value.casefold()
        return value if value is not None else ""

    def _list(self, org: OrgData, endpoint: str, params: dict[str, str]) -> Response:
        kind = endpoint.split(".", maxsplit=1)[0]
        try:
            page = int(params.get("page", "1"))
            per_page = min(int(params.get("per_page", "200")), 200)
            if page < 1 or per_page < 1:
                raise ValueError
        except ValueError:
            raise ApiError(400, 2, "Invalid value passed for page or per_page") from None
        since: datetime | None = None
        if params.get("last_modified_time"):
            try:
                since = _parse_zoho_time(params["last_modified_time"])
            except ValueError:
                raise ApiError(400, 2, "Invalid value passed for last_modified_time") from None
        default_column = "contact_name" if kind == "contacts" else "date"
        column = params.get("sort_column", default_column)
        if column not in ("last_modified_time", "created_time", "contact_name", "customer_name", "date", "due_date"):
            raise ApiError(400, 2, "Invalid value passed for sort_column")
        order = params.get("sort_order", "A" if kind == "contacts" else "D")
        ordered = self._sorted_records(org, kind, column, order)
        records = org.contacts if kind == "contacts" else org.invoices
        first = 0
        if since is not None and column == "last_modified_time" and order == "A":
            first = bisect.bisect_left(ordered, (since, ""))
            since = None
        predicate = self._list_filter(kind, params, since)
        matching = (records[record_id] for _, record_id in islice(ordered, first, None))
        start_index = (page - 1) * per_page
        selected = list(islice(filter(predicate, matching), start_index, start_index + per_page + 1))
        chunk = selected[:per_page]
        rows = [self._contact_row(org, record) if kind == "contacts" else self._times(org, record) for record in chunk]
        return Response.json(
            200,
            {
                "code": 0,
                "message": "success",
                kind: rows,
                "page_context": {
                    "page": page,
                    "per_page": per_page,
                    "has_more_page": len(selected) > per_page,
                    "sort_column": column,
                    "sort_order": order,
                },
            },
        )

    @staticmethod
    def _list_filter(kind: str, params: dict[str, str], since: datetime | None) -> Any:
        """What a list request keeps: contact type, status filter, modified since."""
        status_filter = params.get("filter_by", "Status.All")
        contact_type = params.get("contact_type") if kind == "contacts" else None
        if kind == "contacts" and status_filter in ("Status.Active", "Status.Inactive"):
            wanted: str | None = status_filter.split(".")[1].lower()
        elif kind == "invoices" and status_filter not in ("Status.All", "Status.Unpaid"):
            wanted = status_filter.split(".")[1].lower().replace("partiallypaid", "partially_paid")
        else:
            wanted = None
        unpaid_only = kind == "invoices" and status_filter == "Status.Unpaid"

        def keep(record: dict[str, Any]) -> bool:
            if since is not None and record["last_modified_time"] < since:
                return False
            if contact_type and record.get("contact_type") != contact_type:
                return False
            if wanted is not None and record.get("status") != wanted:
                return False
            return not unpaid_only or (record["balance"] > 0 and record["status"] not in ("draft", "void", "paid"))

        return keep

    def render(self, organization_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """A record as the API shows it (Zoho timestamps), for control API answers."""
        with self.lock:
            org = self._org(organization_id)
            if "contact_persons" in record:
                return self._contact_detail(org, record)
            return self._times(org, record)

    def snapshot(self, organization_id: str) -> dict[str, Any]:
        """The organization's data as the API would show it (ground truth for tests)."""
        with self.lock:
            org = self._org(organization_id)
            return {
                "organization": self._organization(org),
                "contacts": [self._contact_detail(org, c) for c in org.contacts.values()],
                "invoices": [self._times(org, i) for i in org.invoices.values()],
            }
