"""What every token cipher promises, how its stored values look, and the errors it raises.

A stored value says how it was made, so a reader needs no other column to pick the cipher:
`kms:v1:<base64 KMS blob>` or `local:v1:<key fingerprint>:<base64>`. Anything else is plaintext
(rows written before migration 0010). Messages name the tenant and the key, never a token.
"""

from __future__ import annotations

import re
from typing import Protocol

from books_sync.errors import SettingsError

KMS_PREFIX = "kms:v1:"
LOCAL_PREFIX = "local:v1:"
_ENCRYPTED = re.compile(r"^(kms|local):v[0-9]+:")


class TokenKeyError(SettingsError):
    """The key needed to encrypt or decrypt a token is missing, unreachable or unsafe: an operator's fix."""


class TokenUnreadable(ValueError):
    """A stored token does not open with its key: altered, or copied from another tenant's row."""


class TokenCipher(Protocol):
    """Encrypts and decrypts one tenant's tokens under one key; the tenant id is bound to the value."""

    def key_id(self) -> str:
        """The key this cipher encrypts with, as `zoho_connections.token_key_id` records it."""

    def encrypt(self, plaintext: str, tenant_id: str) -> str:
        """A self-describing stored value that only this key and this tenant id open."""

    def decrypt(self, stored: str, tenant_id: str) -> str:
        """The token; `TokenUnreadable` or `TokenKeyError` (naming the tenant) when it does not open."""


def is_encrypted(value: str) -> bool:
    """Whether a stored value is ciphertext (a known prefix and version), not a plaintext token."""
    return bool(_ENCRYPTED.match(value))
