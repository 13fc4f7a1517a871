"""Zoho tokens encrypted at rest: which key encrypts a write, which key opens a stored value.

A write uses, in order: TOKEN_KMS_KEY_ID; the KMS key the database already uses (so `zoho-sync` on
a laptop, pointed at the production database, writes what the Lambdas can read); else the local key:
ZOHO_SYNC_TOKEN_KEY, or the key file (created on first use, mode 600). In Lambda no key file is ever
made (it would vanish with the container, and every token with it): with neither a KMS key nor
ZOHO_SYNC_TOKEN_KEY a write is refused, never done in plaintext. A stored value is opened by the
cipher its prefix names (`kms:v2:`, `local:v2:`; `v1` only for migration 0018). Each value is
bound to its tenant and its column (`contract.Column`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from books_sync.settings import get_settings
from books_sync.token_cipher import key_file
from books_sync.token_cipher.contract import (
    COLUMNS,
    KMS_PREFIX,
    LEGACY_KMS_PREFIX,
    LEGACY_LOCAL_PREFIX,
    LOCAL_PREFIX,
    Column,
    TokenCipher,
    TokenKeyError,
    TokenUnreadable,
    is_encrypted,
)
from books_sync.token_cipher.kms import KmsCipher, kms_client
from books_sync.token_cipher.local import LocalCipher

__all__ = [
    "COLUMNS",
    "Column",
    "Keyring",
    "TokenCipher",
    "TokenKeyError",
    "TokenUnreadable",
    "cipher_for_writing",
    "decrypt",
    "is_encrypted",
    "keyring",
    "reset",
]

_NO_KEY_IN_LAMBDA = (
    "TOKEN_KMS_KEY_ID is not set: in Lambda Zoho tokens are encrypted with KMS (the template's TokenKmsKeyArn "
    "parameter sets it; left empty, the stack creates the key), never with a key file that would vanish with "
    "the container"
)


class Keyring:
    """The ciphers one configuration gives, each built on first use and kept for the process."""

    def __init__(self, kms_key_id: str | None, local_keys: tuple[bytes, ...], key_path: Path, in_lambda: bool) -> None:
        self.kms_key_id = kms_key_id
        self._local_keys = local_keys
        self._key_path = key_path
        self._in_lambda = in_lambda
        self._local: LocalCipher | None = None
        self._kms: dict[str, KmsCipher] = {}

    def for_writing(self, kms_key_in_use: str | None = None) -> TokenCipher:
        """The cipher for the next write; `kms_key_in_use` is the KMS key the row or the database has."""
        key = self.kms_key_id or kms_key_in_use
        return self.kms(key) if key else self.local()

    def kms(self, key_id: str) -> KmsCipher:
        if key_id not in self._kms:
            self._kms[key_id] = KmsCipher(key_id)
        return self._kms[key_id]

    def local(self, tenant_id: str | None = None) -> LocalCipher:
        """The local keys: ZOHO_SYNC_TOKEN_KEY, else the key file (never in Lambda)."""
        if self._local is None:
            if self._local_keys:
                self._local = LocalCipher(self._local_keys, "ZOHO_SYNC_TOKEN_KEY")
            elif self._in_lambda and tenant_id is not None:
                raise TokenKeyError(
                    f"tenant {tenant_id!r}: its tokens were encrypted with a local key (zoho-sync without "
                    "TOKEN_KMS_KEY_ID), which Lambda does not have: run `zoho-sync tenant rekey` with that key and "
                    "TOKEN_KMS_KEY_ID set to the stack's key, or add the tenant again"
                )
            elif self._in_lambda:
                raise TokenKeyError(_NO_KEY_IN_LAMBDA)
            else:
                path = self._key_path
                self._local = LocalCipher(key_file.load_or_create(path), f"token key file {path}")
        return self._local

    def decrypt(self, stored: str, tenant_id: str, column: Column, key_id: str | None, *, legacy: bool = False) -> str:
        """Open a stored value with the cipher its prefix names; `key_id` is the row's `token_key_id`.

        `legacy`: the `v1` forms too (migration 0018 only)."""
        if stored.startswith((KMS_PREFIX, LEGACY_KMS_PREFIX)):
            recorded = key_id if key_id and key_id.startswith("arn:") else ""
            return self.kms(recorded or self.kms_key_id or "").decrypt(stored, tenant_id, column, legacy=legacy)
        if stored.startswith((LOCAL_PREFIX, LEGACY_LOCAL_PREFIX)):
            return self.local(tenant_id).decrypt(stored, tenant_id, column, legacy=legacy)
        raise TokenUnreadable(
            f"tenant {tenant_id!r}: its stored {column} is not in a known form ({KMS_PREFIX}, {LOCAL_PREFIX})"
        )


@lru_cache(maxsize=4)
def _keyring(kms_key_id: str | None, local_keys: tuple[bytes, ...], key_path: Path, in_lambda: bool) -> Keyring:
    return Keyring(kms_key_id, local_keys, key_path, in_lambda)


def keyring() -> Keyring:
    """The keyring of the current settings (a new one when they change, e.g. in tests)."""
    settings = get_settings()
    return _keyring(
        settings.token_kms_key_id,
        settings.token_keys,
        settings.token_key_file,
        settings.lambda_function_name is not None,
    )


def cipher_for_writing(kms_key_in_use: str | None = None) -> TokenCipher:
    return keyring().for_writing(kms_key_in_use)


def decrypt(stored: str, tenant_id: str, column: Column, key_id: str | None, *, legacy: bool = False) -> str:
    return keyring().decrypt(stored, tenant_id, column, key_id, legacy=legacy)


def reset() -> None:
    """Forget the keyrings and KMS clients (a test's new key file, or a new moto mock)."""
    _keyring.cache_clear()
    kms_client.cache_clear()
