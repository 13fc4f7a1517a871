"""AES-256-GCM (`cryptography`), the one authenticated cipher both token ciphers use.

`cryptography` is imported at the first token sealed or opened, not with the module: a function that
never touches a token (ListTenants, Summarize, the reminders) never loads its compiled core (~25 ms
at a cold start).
"""

from __future__ import annotations

import os

NONCE_BYTES = 12


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """nonce (12 random bytes) || ciphertext || tag."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415 - on first use

    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_text(key: bytes, sealed: bytes, associated: bytes) -> str | None:
    """The text `seal` sealed, or None when it does not authenticate (altered, other key or data)."""
    from cryptography.exceptions import InvalidTag  # noqa: PLC0415
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

    if len(sealed) < NONCE_BYTES + 16:
        return None
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated).decode("utf-8")
    except (InvalidTag, UnicodeDecodeError):
        return None
