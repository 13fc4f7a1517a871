"""Tokens sealed with a local key: AES-256-GCM (`cryptography`), the key derived from the master key.

    aead_key    = HMAC-SHA256(K, "zoho-sync token v2 aes-256-gcm")   (K: the 32-byte master key)
    fingerprint = HMAC-SHA256(K, "zoho-sync token v1 fingerprint")[:8], hex (names the key, reveals nothing)
    nonce       = 12 random bytes per encryption
    associated  = JSON ["local:v2", fingerprint, tenant id, column]
    stored      = "local:v2:<fingerprint>:" base64(nonce || AES-GCM(aead_key, nonce, token, associated))

The associated data binds each value to its key, its tenant and its column: a refresh token copied
into the access token's column, or into another tenant's row, does not open. Several keys may be
held: the first encrypts, every one decrypts the values carrying its fingerprint (rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence

from books_sync.token_cipher import aead
from books_sync.token_cipher import legacy as v1
from books_sync.token_cipher.contract import (
    LEGACY_LOCAL_PREFIX,
    LOCAL_PREFIX,
    Column,
    TokenKeyError,
    associated_data,
    not_current,
    unreadable,
)

KEY_BYTES = 32


def fingerprint(key: bytes) -> str:
    """A short public name for a key: which key a stored value needs, without revealing it."""
    return hmac.new(key, b"zoho-sync token v1 fingerprint", hashlib.sha256).digest()[:8].hex()


class _Key:
    """One master key, its name and its AES-GCM key."""

    def __init__(self, master: bytes) -> None:
        if len(master) != KEY_BYTES:
            raise TokenKeyError(f"a local token key is {KEY_BYTES} bytes, got {len(master)}")
        self.master = master
        self.fingerprint = fingerprint(master)
        self.aead_key = hmac.new(master, b"zoho-sync token v2 aes-256-gcm", hashlib.sha256).digest()


class LocalCipher:
    """`TokenCipher` over local keys: the first encrypts, all decrypt. `source` says where the keys came from."""

    def __init__(self, keys: Sequence[bytes], source: str) -> None:
        if not keys:
            raise TokenKeyError(f"no local token key in {source}")
        self._keys = [_Key(key) for key in keys]
        self._by_fingerprint = {key.fingerprint: key for key in reversed(self._keys)}
        self.source = source

    def key_id(self) -> str:
        return f"local:{self._keys[0].fingerprint}"

    def encrypt(self, plaintext: str, tenant_id: str, column: Column) -> str:
        key = self._keys[0]
        aad = associated_data(LOCAL_PREFIX, key.fingerprint, tenant_id, column)
        sealed = aead.seal(key.aead_key, plaintext.encode("utf-8"), aad)
        return f"{LOCAL_PREFIX}{key.fingerprint}:{base64.b64encode(sealed).decode('ascii')}"

    def decrypt(self, stored: str, tenant_id: str, column: Column, *, legacy: bool = False) -> str:
        if stored.startswith(LOCAL_PREFIX):
            key_name, _, body = stored.removeprefix(LOCAL_PREFIX).partition(":")
            key = self._key(key_name, tenant_id)
            plaintext = _open(key, body, tenant_id, column)
        elif legacy and stored.startswith(LEGACY_LOCAL_PREFIX):
            key_name, _, body = stored.removeprefix(LEGACY_LOCAL_PREFIX).partition(":")
            key = self._key(key_name, tenant_id)
            plaintext = v1.open_local(key.master, key.fingerprint, body, tenant_id)
        else:
            raise not_current(tenant_id, column, LOCAL_PREFIX)
        if plaintext is None:
            raise unreadable(tenant_id, column, key.fingerprint)
        return plaintext

    def _key(self, key_name: str, tenant_id: str) -> _Key:
        key = self._by_fingerprint.get(key_name)
        if key is None:
            known = ", ".join(self._by_fingerprint)
            raise TokenKeyError(
                f"tenant {tenant_id!r}: its tokens are encrypted with local key {key_name[:16]!r}, which is not "
                f"in {self.source} (keys here: {known}); use the key file or ZOHO_SYNC_TOKEN_KEY that wrote them"
            )
        return key


def _open(key: _Key, body: str, tenant_id: str, column: Column) -> str | None:
    try:
        sealed = base64.b64decode(body, validate=True)
    except binascii.Error:
        return None
    return aead.open_text(key.aead_key, sealed, associated_data(LOCAL_PREFIX, key.fingerprint, tenant_id, column))


def parse_keys(text: str, source: str) -> list[bytes]:
    """A key file's keys: base64 of 32 bytes, one per line, the first encrypting; `#` starts a comment line."""
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        try:
            key = base64.b64decode(entry, validate=True)
        except binascii.Error:
            key = b""
        if len(key) != KEY_BYTES:
            raise TokenKeyError(f"{source}: line {number} is not base64 of {KEY_BYTES} bytes")
        keys.append(key)
    return keys


def new_key_text() -> str:
    """A fresh random key, as a key file or ZOHO_SYNC_TOKEN_KEY holds it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")
