"""The `v1` stored forms, read only by migration 0018 as it seals every token again as `v2`.

v1 bound a value to its tenant but not to its column. Local v1 was encrypt-then-MAC built from
HMAC-SHA256 (keys derived from the 32-byte master K):

    enc_key, mac_key = HMAC(K, "zoho-sync token v1 encryption"), HMAC(K, "zoho-sync token v1 authentication")
    keystream        = HMAC(enc_key, nonce || counter) for counter = 0, 1, ... (4 bytes, big-endian)
    tag              = HMAC(mac_key, "local:v1:" fingerprint || nonce || len(tenant) || tenant || ciphertext)
    stored           = "local:v1:<fingerprint>:" base64(nonce[16] || plaintext XOR keystream || tag[32])

KMS v1 was `kms:v1:<base64 KMS blob>`, encrypted directly with the context `{"tenant": <user id>}`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from books_sync.token_cipher.contract import LEGACY_LOCAL_PREFIX

_NONCE_BYTES = 16
_TAG_BYTES = 32


def _prf(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def open_local(master: bytes, key_fingerprint: str, body: str, tenant_id: str) -> str | None:
    """A local v1 value's token, or None when it does not open (checked in constant time first)."""
    try:
        sealed = base64.b64decode(body, validate=True)
    except binascii.Error:
        return None
    if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
        return None
    nonce, ciphertext, tag = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:-_TAG_BYTES], sealed[-_TAG_BYTES:]
    tenant = tenant_id.encode("utf-8")
    mac_key = _prf(master, b"zoho-sync token v1 authentication")
    header = f"{LEGACY_LOCAL_PREFIX}{key_fingerprint}".encode("ascii")
    expected = _prf(mac_key, header + nonce + len(tenant).to_bytes(4, "big") + tenant + ciphertext)
    if not hmac.compare_digest(tag, expected):
        return None
    enc_key = _prf(master, b"zoho-sync token v1 encryption")
    stream = b"".join(_prf(enc_key, nonce + i.to_bytes(4, "big")) for i in range((len(ciphertext) + 31) // 32))
    try:
        return bytes(a ^ b for a, b in zip(ciphertext, stream, strict=False)).decode("utf-8")
    except UnicodeDecodeError:
        return None


def kms_context(tenant_id: str) -> dict[str, str]:
    """The encryption context a KMS v1 value was made with."""
    return {"tenant": tenant_id}
