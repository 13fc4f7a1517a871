"""The control API under /_emulator/: set up organizations and tokens, edit records, inject faults,
spend quota, read counts. EmulatorControl (control.py) is its Python client.

Answers: 200 with the result (or {"ok": true}); 400 {"error": ...} for a bad request or unknown route.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from zoho_emulator.state import Emulator
from zoho_emulator.wire import Response


@dataclass(frozen=True)
class ControlRequest:
    """A control call: its JSON body, query, and the path parts a route's `*` captured."""

    data: dict[str, Any]
    params: dict[str, str]
    ids: tuple[str, ...]


Handler = Callable[[Emulator, ControlRequest], Any]


def _clock(emulator: Emulator, request: ControlRequest) -> dict[str, str]:
    if request.data.get("reset") is True:
        emulator.reset_clock()
    emulator.advance_clock(float(request.data.get("advance_seconds", 0)))
    if "frozen" in request.data:
        emulator.freeze_clock(bool(request.data["frozen"]))
    return {"now": emulator.now().isoformat()}


def _add_org(emulator: Emulator, request: ControlRequest) -> dict[str, Any]:
    options = dict(request.data)
    organization_id = str(options.pop("organization_id"))
    org = emulator.add_org(organization_id, **options)
    customers = sum(1 for c in org.contacts.values() if c["contact_type"] == "customer")
    return {
        "organization_id": org.organization_id,
        "customers": customers,
        "invoices": len(org.invoices),
        "profile": emulator.profile_of(organization_id),
    }


def _add_fault(emulator: Emulator, request: ControlRequest) -> None:
    data = request.data
    count, after = int(data.get("count", 1)), int(data.get("after", 0))
    emulator.add_fault(str(data["endpoint"]), str(data["kind"]), count, data.get("organization_id"), after)


def _random_faults(emulator: Emulator, request: ControlRequest) -> None:
    data = request.data
    emulator.set_random_faults(
        float(data["rate"]), list(data["kinds"]), int(data.get("seed", 0)), data.get("endpoints")
    )


def _create_invoice(emulator: Emulator, request: ControlRequest) -> dict[str, Any]:
    (org,) = request.ids
    fields = dict(request.data)
    customer_id = str(fields.pop("customer_id"))
    return emulator.render(org, emulator.create_invoice(org, customer_id, fields))


def _rendered(edit: Callable[..., dict[str, Any]], *, takes_body: bool = True) -> Handler:
    """A route that changes one record, called with the path's ids (and the body's fields), and
    answers with the record as the API shows it."""

    def handle(emulator: Emulator, request: ControlRequest) -> Any:
        body = (request.data,) if takes_body else ()
        return emulator.render(request.ids[0], edit(emulator, *request.ids, *body))

    return handle


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "health", lambda e, r: {"ok": True}),
    ("GET", "stats", lambda e, r: e.stats()),
    ("GET", "webhooks/sent", lambda e, r: e.webhooks.outcomes()),
    ("POST", "stats/reset", lambda e, r: e.reset_stats()),
    ("POST", "settings", lambda e, r: e.configure(**r.data)),
    ("POST", "clock", _clock),
    ("POST", "rate-limit", lambda e, r: e.set_rate_limit(r.data.get("calls"), float(r.data.get("window_seconds", 60)))),
    ("POST", "faults", _add_fault),
    ("POST", "faults/random", _random_faults),
    ("POST", "faults/clear", lambda e, r: e.clear_faults()),
    (
        "POST",
        "refresh-tokens",
        lambda e, r: e.add_refresh_token(str(r.data["refresh_token"]), r.data.get("organizations")),
    ),
    ("POST", "refresh-tokens/revoke", lambda e, r: e.revoke_refresh_token(str(r.data["refresh_token"]))),
    ("POST", "access-tokens/expire", lambda e, r: e.expire_access_tokens()),
    ("POST", "orgs", _add_org),
    ("GET", "orgs/*/snapshot", lambda e, r: e.snapshot(*r.ids)),
    ("GET", "orgs/*/quota", lambda e, r: e.quota(*r.ids)),
    ("POST", "orgs/*/options", lambda e, r: e.configure_org(*r.ids, **r.data)),
    ("POST", "orgs/*/spend-calls", lambda e, r: e.spend_calls(r.ids[0], int(r.data["calls"]))),
    ("POST", "orgs/*/contacts", _rendered(Emulator.create_contact)),
    ("POST", "orgs/*/contacts/*", _rendered(Emulator.update_contact)),
    ("POST", "orgs/*/contacts/*/persons/*", _rendered(Emulator.update_contact_person)),
    ("POST", "orgs/*/contacts/*/delete", lambda e, r: e.delete_contact(*r.ids)),
    ("POST", "orgs/*/contacts/*/restore", _rendered(Emulator.restore_contact, takes_body=False)),
    ("POST", "orgs/*/invoices", _create_invoice),
    ("POST", "orgs/*/invoices/*", _rendered(Emulator.update_invoice)),
    ("POST", "orgs/*/invoices/*/pay", _rendered(Emulator.pay_invoice, takes_body=False)),
    ("POST", "orgs/*/invoices/*/void", _rendered(Emulator.void_invoice, takes_body=False)),
    ("POST", "orgs/*/invoices/*/delete", lambda e, r: e.delete_invoice(*r.ids)),
]


def _match(pattern: str, parts: list[str]) -> tuple[str, ...] | None:
    """The parts a pattern's `*` stand for, or None if the path is another route's."""
    expected = pattern.split("/")
    if len(expected) != len(parts):
        return None
    if any(want not in ("*", got) for want, got in zip(expected, parts, strict=True)):
        return None
    return tuple(got for want, got in zip(expected, parts, strict=True) if want == "*")


def _json_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("control requests take a JSON object")
    return data


def control(emulator: Emulator, method: str, path: str, query: str, body: bytes) -> Response:
    """Answer one control request."""
    parts = [p for p in path[len("/_emulator/") :].split("/") if p]
    try:
        data = _json_body(body) if method == "POST" else {}
        params = {key: values[-1] for key, values in parse_qs(query).items()}
        for route_method, pattern, handler in ROUTES:
            ids = _match(pattern, parts)
            if route_method == method and ids is not None:
                result = handler(emulator, ControlRequest(data, params, ids))
                return Response.json(200, result if result is not None else {"ok": True})
        raise KeyError(f"no control route {method} /_emulator/{'/'.join(parts)}")
    except (KeyError, ValueError, TypeError) as exc:
        return Response.json(400, {"error": str(exc)})
