"""The webhook request rules (pure): what is refused, and in which order, before anything is queued."""

from __future__ import annotations

import json

import pytest

from books_sync.webhooks.request import MAX_BODY_BYTES, Notice, Refusal, Request, read_notice
from books_sync.webhooks.secret import HEADER, digest, matches, new_secret

SECRET = new_secret()
OLD = new_secret()


def secrets_of(user_id: str) -> tuple[bytes | None, ...] | None:
    return (digest(SECRET), digest(OLD)) if user_id == "u1" else None


def request(path: str = "/webhooks/u1", query: dict[str, str] | None = None, *, secret: str | None = SECRET,
            body: bytes = b"", method: str = "POST") -> Request:  # fmt: skip
    headers = {HEADER.lower(): secret} if secret is not None else {}
    return Request(method, path, {"kind": "invoice", "id": "123"} if query is None else query, headers, body)


@pytest.mark.parametrize(
    ("given", "status"),
    [
        (request(body=b"x" * (MAX_BODY_BYTES + 1), secret=None), 413),  # size first, whoever asks
        (request(path="/elsewhere"), 404),
        (request(method="GET"), 405),
        (request(secret=None), 401),
        (request(secret=SECRET[:-1]), 401),
        (request(path="/webhooks/ghost"), 401),
        (request(query={"kind": "bill", "id": "1"}), 400),
        (request(query={"kind": "invoice", "id": "1 OR 1=1"}), 400),
        (request(query={}, body=b"not json"), 400),
        (request(query={}, body=json.dumps({"invoice": {"invoice_id": None}}).encode()), 400),
        (request(query={"kind": "bill", "id": "1"}, secret="wrong"), 401),  # the secret before the content
    ],
)
def test_refusals(given: Request, status: int) -> None:
    refused = read_notice(given, secrets_of)
    assert isinstance(refused, Refusal) and refused.status == status, refused


def test_the_record_comes_from_the_url_or_else_from_the_default_payload() -> None:
    assert read_notice(request(), secrets_of) == Notice("u1", "invoice", "123")
    payload = json.dumps({"contact": {"contact_id": 4500000000077, "contact_name": "ignored"}}).encode()
    assert read_notice(request(query={}, body=payload), secrets_of) == Notice("u1", "contact", "4500000000077")
    assert read_notice(request(secret=OLD), secrets_of) == Notice("u1", "invoice", "123")  # within its grace


def test_a_secret_is_random_and_only_its_hash_is_compared() -> None:
    assert SECRET != OLD and SECRET.startswith("zsw_") and len(SECRET) > 40
    assert matches(SECRET, None, digest(SECRET)) and not matches(SECRET, digest(OLD)) and not matches("", digest(""))
