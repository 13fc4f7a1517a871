"""Fault injection: rules for the next calls, random chaos, and the broken answers themselves."""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from typing import Any, Literal, get_args

from zoho_emulator.wire import Response

FaultKind = Literal[
    "429",  # per-minute rate limit (code 44)
    "daily_limit",  # daily quota (code 45)
    "500",
    "503",
    "401",  # access token rejected (code 57)
    "invalid_id",  # HTTP 400, code 2: "Invalid value passed for ..."
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
    "delete_after_page",  # the real page, then its first row deleted in Zoho: later pages shift up by one
    "future_stamp",  # the first row (or the detail) stamped 2099-01-01: a clock Zoho should not have
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
Endpoint = Literal[
    "token",
    "organizations.list",
    "organizations.get",
    "contacts.list",
    "contacts.get",
    "invoices.list",
    "invoices.get",
    "customerpayments.get",
]
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)

_RATE_LIMITED = (
    "For security reasons your organization has been blocked as it have exceeded the maximum number of requests "
    "per minute that can originate from an organization."
)
_DAILY_LIMITED = "The API call for this organization has exceeded the maximum call rate limit."
_SERVER_ERROR = {"code": 500, "message": "Internal server error"}
_CANNED: dict[str, tuple[int, dict[str, Any]]] = {
    "429": (429, {"code": 44, "message": _RATE_LIMITED}),
    "daily_limit": (429, {"code": 45, "message": _DAILY_LIMITED}),
    "500": (500, _SERVER_ERROR),
    "503": (503, _SERVER_ERROR),
    "401": (401, {"code": 57, "message": "You are not authorized to perform this operation"}),
    "code_nonzero": (200, {"code": 1, "message": "Unknown error occurred"}),
}
_INVALID_FIELD = {
    "contacts.get": "contact_id",
    "invoices.get": "invoice_id",
    "customerpayments.get": "payment_id",
    "token": "refresh_token",
}


def fault_kind(value: Any) -> FaultKind:
    for kind in FAULT_KINDS:
        if value == kind:
            return kind
    raise ValueError(f"unknown fault kind {value!r}; one of {', '.join(FAULT_KINDS)}")


def endpoint_name(value: Any) -> Endpoint:
    for endpoint in ENDPOINTS:
        if value == endpoint:
            return endpoint
    raise ValueError(f"unknown endpoint {value!r}; one of {', '.join(ENDPOINTS)} or *")


@dataclass
class FaultRule:
    endpoint: Endpoint | Literal["*"]
    kind: FaultKind
    remaining: int
    organization_id: str | None = None
    after: int = 0  # let this many matching calls through first ("crash after page k")

    def matches(self, endpoint: Endpoint, organization_id: str | None) -> bool:
        return (
            self.remaining > 0
            and self.endpoint in ("*", endpoint)
            and (self.organization_id is None or self.organization_id == organization_id)
        )


@dataclass
class RandomFaults:
    rate: float
    kinds: list[FaultKind]
    rng: random.Random
    endpoints: set[str] | None = None


class FaultInjector:
    """Decides which fault (if any) a call gets, and builds or corrupts its answer."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.chaos: RandomFaults | None = None

    def add(self, endpoint: str, kind: str, count: int = 1, organization_id: str | None = None, after: int = 0) -> None:
        target: Endpoint | Literal["*"] = "*" if endpoint == "*" else endpoint_name(endpoint)
        self.rules.append(FaultRule(target, fault_kind(kind), count, organization_id, after))

    def set_random(self, rate: float, kinds: list[str], seed: int = 0, endpoints: list[str] | None = None) -> None:
        checked = [fault_kind(kind) for kind in kinds]
        chosen = set(endpoints) if endpoints else None
        self.chaos = RandomFaults(rate, checked, random.Random(seed), chosen) if rate > 0 else None

    def clear(self) -> None:
        self.rules.clear()
        self.chaos = None

    def take(self, endpoint: Endpoint, organization_id: str | None) -> FaultKind | None:
        """The fault this call gets: the first matching rule (spending one), else maybe a random one."""
        for rule in self.rules:
            if not rule.matches(endpoint, organization_id):
                continue
            if rule.after > 0:
                rule.after -= 1
                continue
            rule.remaining -= 1
            self.rules = [r for r in self.rules if r.remaining > 0]
            return rule.kind
        chaos = self.chaos
        in_scope = chaos is not None and (chaos.endpoints is None or endpoint in chaos.endpoints)
        if chaos is not None and in_scope and chaos.rng.random() < chaos.rate:
            return chaos.rng.choice(chaos.kinds)
        return None


def canned(kind: FaultKind, endpoint: Endpoint, previous: Response | None) -> Response | None:
    """An answer that replaces the real one, or None when the fault bends the real answer instead."""
    if kind in _CANNED:
        status, payload = _CANNED[kind]
        return Response.json(status, payload)
    if kind == "invalid_id":
        field = _INVALID_FIELD.get(endpoint, "organization_id")
        return Response.json(400, {"code": 2, "message": f"Invalid value passed for {field}"})
    if kind == "html":
        return Response(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
    if kind == "repeat_page" and previous is not None:
        return Response(previous.status, previous.body, previous.content_type)
    return None


def _payload_key(endpoint: Endpoint) -> str:
    key = endpoint.split(".", maxsplit=1)[0]
    return key[:-1] if endpoint.endswith(".get") else key  # contact, invoice, organization


FUTURE = "2099-01-01T00:00:00+0000"


def _bend_rows(kind: FaultKind, rows: list[Any]) -> list[Any]:
    """A list page's rows as the fault leaves them."""
    if kind == "future_stamp" and rows and isinstance(rows[0], dict):
        return [{**rows[0], "last_modified_time": FUTURE}, *rows[1:]]
    if kind == "wrong_types":
        return [
            {k: (None if i % 2 else 12345) for i, k in enumerate(row)} if n % 2 else None
            for n, row in enumerate(rows or [{}])
        ]
    if kind == "nulls":
        return [dict.fromkeys(row) for row in rows]
    if kind == "duplicate_rows":
        return [row for row in rows for _ in range(2)]
    return rows


def _bend_object(kind: FaultKind, value: Any) -> Any:
    """A detail object as the fault leaves it."""
    if isinstance(value, dict) and kind == "wrong_types":
        return {k: ([1, 2] if i % 2 else 12345) for i, k in enumerate(value)}
    if isinstance(value, dict) and kind == "nulls":
        return dict.fromkeys(value)
    if isinstance(value, dict) and kind == "future_stamp":
        return {**value, "last_modified_time": FUTURE}
    return value


def corrupt(kind: FaultKind, endpoint: Endpoint, response: Response) -> Response:
    """Bend a real 200 answer (headers and finishing hook kept); other answers pass untouched."""
    if response.status != 200 or kind == "delete_after_page":  # the router deletes, the answer stays true
        return response
    if kind == "malformed":
        return dataclasses.replace(response, body=response.body[: max(1, len(response.body) // 2)])
    payload = json.loads(response.body)
    key = _payload_key(endpoint)
    is_list = endpoint.endswith(".list")
    if kind == "missing_key":
        payload.pop(key, None)
    elif kind == "empty_page_more" and is_list:
        payload[key] = []
        context = payload.setdefault("page_context", {})
        for page in context if isinstance(context, list) else [context]:
            page["has_more_page"] = True
    elif key in payload:
        payload[key] = _bend_rows(kind, payload[key] or []) if is_list else _bend_object(kind, payload[key])
    return dataclasses.replace(response, body=Response.json(200, payload).body)
