"""What every token cipher promises, how its stored values look, and the errors it raises.

A stored value says how it was made, so a reader needs no other column to pick the cipher:
`kms:v2:...` or `local:v2:<key fingerprint>:<base64>`. Each value is bound to its tenant, to its
column and to its key: a value copied into another tenant's row or into the other token's column
does not open. The `v1` forms (bound to the tenant only) are read by migration 0018 alone, which
seals them again as `v2`. Messages name the tenant and the key, never a token.
"""

from __future__ import annotations

import json
import re
from typing import Literal, Protocol

from books_sync.errors import SettingsError

Column = Literal["refresh_token", "access_token"]
COLUMNS: tuple[Column, ...] = ("refresh_token", "access_token")

KMS_PREFIX = "kms:v2:"
LOCAL_PREFIX = "local:v2:"
LEGACY_KMS_PREFIX = "kms:v1:"
LEGACY_LOCAL_PREFIX = "local:v1:"
_ENCRYPTED = re.compile(r"^(kms|local):v[0-9]+:")


class TokenKeyError(SettingsError):
    """The key needed to encrypt or decrypt a token is missing, unreachable or unsafe: an operator's fix."""


class TokenUnreadable(ValueError):
    """A stored token does not open with its key: altered, moved from another row or column, or an old form."""


class TokenCipher(Protocol):
    """Encrypts and decrypts tokens under one key, each value bound to its tenant and its column."""

    def key_id(self) -> str:
        """The key this cipher encrypts with, as `zoho_connections.token_key_id` records it."""

    def encrypt(self, plaintext: str, tenant_id: str, column: Column) -> str:
        """A self-describing stored value that only this key opens, for this tenant and this column."""

    def decrypt(self, stored: str, tenant_id: str, column: Column, *, legacy: bool = False) -> str:
        """The token; `TokenUnreadable` or `TokenKeyError` (naming the tenant) when it does not open.

        `legacy`: also the `v1` form (migration 0018 only)."""


def associated_data(prefix: str, key_name: str, tenant_id: str, column: Column) -> bytes:
    """What a value is bound to besides its key: form (`local:v2`), key, tenant, column (JSON: no ambiguous joins)."""
    fields = [prefix.rstrip(":"), key_name, tenant_id, column]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def unreadable(tenant_id: str, column: Column, key_name: str) -> TokenUnreadable:
    return TokenUnreadable(
        f"tenant {tenant_id!r}: its stored {column} does not open with key {key_name}: it was altered, or moved "
        "from another tenant's row or from the other token's column; add the tenant again with its refresh token"
    )


def not_current(tenant_id: str, column: Column, prefix: str) -> TokenUnreadable:
    return TokenUnreadable(
        f"tenant {tenant_id!r}: its stored {column} is not in the current form ({prefix}): an older form is read "
        "only by `zoho-sync migrate` (migration 0018), which seals it again"
    )


def is_encrypted(value: str) -> bool:
    """Whether a stored value is ciphertext (a known prefix and version), not a plaintext token."""
    return bool(_ENCRYPTED.match(value))
