"""A tenant's webhook secret: made here, shown once, kept only as its SHA-256, compared in constant time.

The secret is 32 random bytes (URL-safe base64): a fast hash is enough, as nothing can be guessed from
it. The operator pastes it into Zoho's webhook form as a custom header; Zoho sends it back with every
call (`HEADER`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "X-Zoho-Sync-Secret"
PREFIX = "zsw_"  # says what it is when found in a paste buffer or a log


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def matches(given: str | None, *stored: bytes | None) -> bool:
    """Whether `given` is one of the stored secrets; every candidate compared, each in constant time."""
    if not given:
        return False
    candidate = digest(given)
    found = False
    for hashed in stored:
        if hashed is not None and hmac.compare_digest(candidate, hashed):
            found = True
    return found
