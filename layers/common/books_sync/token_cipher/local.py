"""Tokens sealed with a local key, using the standard library only (the layer ships no compiled crypto).

Encrypt-then-MAC with HMAC-SHA256 for everything, keys derived separately from the 32-byte master K:

    enc_key     = HMAC(K, "zoho-sync token v1 encryption")
    mac_key     = HMAC(K, "zoho-sync token v1 authentication")
    fingerprint = HMAC(K, "zoho-sync token v1 fingerprint")[:8], hex (names the key, reveals nothing of it)
    nonce       = 16 random bytes per encryption
    keystream   = HMAC(enc_key, nonce || counter) for counter = 0, 1, ... (4 bytes, big-endian):
                  HMAC as a pseudo-random function in counter mode
    ciphertext  = plaintext XOR keystream
    tag         = HMAC(mac_key, "local:v1:" fingerprint || nonce || len(tenant) || tenant || ciphertext)
    stored      = "local:v1:<fingerprint>:" base64(nonce || ciphertext || tag)

The tenant id is bound into the tag, so a value copied into another tenant's row does not open; the
tag is checked in constant time before anything is decrypted. Several keys may be held: the first
encrypts, every one decrypts the values carrying its fingerprint (rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence

from books_sync.token_cipher.contract import LOCAL_PREFIX, TokenKeyError, TokenUnreadable

KEY_BYTES = 32
_NONCE_BYTES = 16
_TAG_BYTES = 32


def _prf(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def fingerprint(key: bytes) -> str:
    """A short public name for a key: which key a stored value needs, without revealing it."""
    return _prf(key, b"zoho-sync token v1 fingerprint")[:8].hex()


class _Key:
    """One master key and the keys derived from it."""

    def __init__(self, master: bytes) -> None:
        if len(master) != KEY_BYTES:
            raise TokenKeyError(f"a local token key is {KEY_BYTES} bytes, got {len(master)}")
        self.fingerprint = fingerprint(master)
        self._enc = _prf(master, b"zoho-sync token v1 encryption")
        self._mac = _prf(master, b"zoho-sync token v1 authentication")

    def keystream_xor(self, nonce: bytes, data: bytes) -> bytes:
        blocks = (len(data) + 31) // 32
        stream = b"".join(_prf(self._enc, nonce + i.to_bytes(4, "big")) for i in range(blocks))
        return bytes(a ^ b for a, b in zip(data, stream, strict=False))

    def tag(self, nonce: bytes, tenant_id: str, ciphertext: bytes) -> bytes:
        tenant = tenant_id.encode("utf-8")
        header = f"{LOCAL_PREFIX}{self.fingerprint}".encode("ascii")
        return _prf(self._mac, header + nonce + len(tenant).to_bytes(4, "big") + tenant + ciphertext)


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

    def encrypt(self, plaintext: str, tenant_id: str) -> str:
        key = self._keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = key.keystream_xor(nonce, plaintext.encode("utf-8"))
        sealed = nonce + ciphertext + key.tag(nonce, tenant_id, ciphertext)
        return f"{LOCAL_PREFIX}{key.fingerprint}:{base64.b64encode(sealed).decode('ascii')}"

    def decrypt(self, stored: str, tenant_id: str) -> str:
        key_name, _, body = stored.removeprefix(LOCAL_PREFIX).partition(":")
        key = self._by_fingerprint.get(key_name)
        if not stored.startswith(LOCAL_PREFIX) or key is None:
            known = ", ".join(self._by_fingerprint)
            raise TokenKeyError(
                f"tenant {tenant_id!r}: its tokens are encrypted with local key {key_name[:16]!r}, which is not "
                f"in {self.source} (keys here: {known}); use the key file or ZOHO_SYNC_TOKEN_KEY that wrote them"
            )
        try:
            sealed = base64.b64decode(body, validate=True)
        except binascii.Error:
            sealed = b""
        nonce, ciphertext, tag = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:-_TAG_BYTES], sealed[-_TAG_BYTES:]
        if len(sealed) < _NONCE_BYTES + _TAG_BYTES or not hmac.compare_digest(
            tag, key.tag(nonce, tenant_id, ciphertext)
        ):
            raise TokenUnreadable(
                f"tenant {tenant_id!r}: a stored token does not open with local key {key.fingerprint}: "
                "it was altered or copied from another tenant's row; add the tenant again with its refresh token"
            )
        return key.keystream_xor(nonce, ciphertext).decode("utf-8")


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
