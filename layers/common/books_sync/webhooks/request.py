"""What a webhook request says, or why it is refused: pure rules, the same for Lambda and `webhooks serve`.

The URL names the tenant (`/webhooks/<user id>`) and, as the webhook's URL parameters configured in
Zoho, the record: `?kind=invoice&id=${invoice.invoice_id}`. Without them the record is taken from the
module's default JSON payload (`{"invoice": {"invoice_id": ...}}`). Only the kind and the id are kept:
the worker reads the record itself from Zoho, so nothing else in the body is ever trusted or logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from books_sync.events import USER_ID
from books_sync.webhooks.secret import HEADER, matches

Kind = Literal["invoice", "contact", "payment"]
KINDS: dict[str, Kind] = {"invoice": "invoice", "contact": "contact", "payment": "payment"}
ID_FIELDS: dict[Kind, str] = {"invoice": "invoice_id", "contact": "contact_id", "payment": "payment_id"}
MAX_BODY_BYTES = 64 * 1024  # Zoho's default payload of one record is a few KB
_PATH = re.compile(rf"/webhooks/({USER_ID.pattern})/?")
_ZOHO_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


@dataclass(frozen=True)
class Notice:
    """A record a tenant's Zoho says changed."""

    user_id: str
    kind: Kind
    zoho_id: str


@dataclass(frozen=True)
class Refusal:
    status: int  # 400 malformed, 401 unknown tenant or wrong secret, 404, 405, 413
    reason: str  # for the caller; never a value from the request


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names lower-cased
    body: bytes


SecretsOf = Callable[[str], tuple[bytes | None, ...] | None]  # a tenant's stored hashes; None: no such tenant


def read_notice(request: Request, secrets_of: SecretsOf) -> Notice | Refusal:
    """Size, route, then the secret (before anything else is looked at), then the record named."""
    if len(request.body) > MAX_BODY_BYTES:
        return Refusal(413, f"the body is over {MAX_BODY_BYTES} bytes")
    route = _PATH.fullmatch(request.path)
    if route is None:
        return Refusal(404, "not a webhook address (/webhooks/<tenant>)")
    if request.method != "POST":
        return Refusal(405, "webhooks are POST")
    stored = secrets_of(route[1])
    if stored is None or not matches(request.headers.get(HEADER.lower()), *stored):
        return Refusal(401, f"unknown tenant or wrong {HEADER}")
    named = _named(request)
    if isinstance(named, str):
        return Refusal(400, named)
    return Notice(route[1], *named)


def _named(request: Request) -> tuple[Kind, str] | str:
    kind = KINDS.get(request.query.get("kind", ""))
    if "kind" in request.query and kind is None:
        return "kind: expected invoice, contact or payment"
    if kind is not None and "id" in request.query:
        return (kind, request.query["id"]) if _ZOHO_ID.fullmatch(request.query["id"]) else "id: not a Zoho id"
    return _from_payload(request.body, kind)


def _from_payload(body: bytes, kind: Kind | None) -> tuple[Kind, str] | str:
    """The module's default payload: one top-level object named after the module, with its id field."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "expected ?kind=...&id=... or Zoho's default JSON payload"
    if not isinstance(payload, dict):
        return "expected a JSON object"
    for name in [kind] if kind else list(ID_FIELDS):
        record = payload.get(name)
        if isinstance(record, dict):
            zoho_id = record.get(ID_FIELDS[name])
            if isinstance(zoho_id, int | str) and not isinstance(zoho_id, bool) and _ZOHO_ID.fullmatch(str(zoho_id)):
                return name, str(zoho_id)
            return f"{name}.{ID_FIELDS[name]}: missing or not a Zoho id"
    return "no invoice, contact or payment in the payload"
