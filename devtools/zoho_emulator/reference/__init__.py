"""Zoho's reference, checked: every request the client sends to an organization of the `documented`
profile must be one Zoho's API reference documents (`books-v3-subset.yml`, validated with openapi-core),
except the few undocumented parameters the README names, each with the fallback that keeps the sync
correct when Zoho ignores it (`UNDOCUMENTED`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

SUBSET = Path(__file__).with_name("books-v3-subset.yml")
HOST = "https://www.zohoapis.com"

# The undocumented query parameters the client sends, per list (the README names each and its fallback).
UNDOCUMENTED: dict[str, frozenset[str]] = {
    "/contacts": frozenset({"last_modified_time", "sort_order"}),
    "/invoices": frozenset({"sort_order"}),
}


@dataclass
class _Request:
    """What openapi-core reads of a request."""

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str = "application/json"
    body: bytes | None = None


@cache
def _reference() -> OpenAPI:
    return OpenAPI.from_file_path(str(SUBSET))


def _declared(template: str) -> frozenset[str]:
    """The query parameters the reference declares for a GET path (its operation's and the path's)."""
    spec = _reference().spec / "paths" / template
    found: set[str] = set()
    for where in (spec, spec / "get"):
        for parameter in where.get("parameters", []):
            if parameter["in"] == "query":
                found.add(str(parameter["name"]))
    return frozenset(found)


def _template(path: str) -> str | None:
    """`/contacts/123` → `/contacts/{contact_id}`; None for a path the subset does not have."""
    parts = path.strip("/").split("/")
    names = {
        "contacts": "contact_id",
        "invoices": "invoice_id",
        "organizations": "organization_id",
        "customerpayments": "payment_id",
    }
    if not parts or parts[0] not in names or len(parts) > 2 or parts == ["customerpayments"]:
        return None
    return f"/{parts[0]}" if len(parts) == 1 else f"/{parts[0]}/{{{names[parts[0]]}}}"


def problems(path: str, query: dict[str, str]) -> list[str]:
    """Why a GET of `path` (below /books/v3) with `query` is not what Zoho's reference documents; [] if it is.

    Each parameter is judged on its own (and remembered: pages differ only in `page`), then whether the
    required ones are there.
    """
    template = _template(path)
    if template is None:
        return [f"GET {path} is not in the subset of Zoho's reference this project uses"]
    allowed = _declared(template) | UNDOCUMENTED.get(template, frozenset())
    found = [f"{name}: not a parameter Zoho's reference documents for GET {template}" for name in
             sorted(set(query) - allowed)]  # fmt: skip
    for name, value in sorted(query.items()):
        if name in allowed - UNDOCUMENTED.get(template, frozenset()):
            found += _value_problems(template, name, value)
    return found + list(_missing(template, frozenset(query)))


@lru_cache(maxsize=16384)
def _value_problems(template: str, name: str, value: str) -> tuple[str, ...]:
    """One parameter's value against its schema (the required ones filled in, so only it is judged)."""
    query = {**dict.fromkeys(_required(template), "0"), name: value}
    return tuple(problem for problem in _validate(template, query) if name in problem)


@lru_cache(maxsize=256)
def _missing(template: str, names: frozenset[str]) -> tuple[str, ...]:
    """The required parameters `names` lacks."""
    query = {name: "0" for name in _required(template) if name in names}
    return tuple(problem for problem in _validate(template, query) if problem.startswith("Missing required"))


@cache
def _required(template: str) -> tuple[str, ...]:
    spec = _reference().spec / "paths" / template
    found: list[str] = []
    for where in (spec, spec / "get"):
        for parameter in where.get("parameters", []):
            if parameter["in"] == "query" and parameter.get("required"):
                found.append(str(parameter["name"]))
    return tuple(found)


def _validate(template: str, query: dict[str, str]) -> list[str]:
    path = re.sub(r"\{[a-z_]+\}", "0", template)  # any record's id
    parameters = RequestParameters(query=ImmutableMultiDict(query), header=Headers(), cookie=ImmutableMultiDict())
    request = _Request(HOST, f"/books/v3{path}", "get", parameters)
    return [_said(error) for error in _reference().iter_request_errors(request)]


def _said(error: Exception) -> str:
    """openapi-core's error, with the schema's own reason where it gives one."""
    causes = [str(cause).split("\n", 1)[0] for cause in getattr(error.__cause__, "schema_errors", ())]
    return f"{error}" + (f" ({'; '.join(causes)})" if causes else "")
