"""Tokens encrypted under an AWS KMS key: at most one KMS request for a tenant's hourly run.

- A **refresh token** (long-lived, read once an hour to renew the access token, written only when a
  tenant is added, reconnected or re-keyed) is encrypted by KMS itself, with the encryption context
  `{"tenant": <user id>, "token": "refresh_token"}`: `kms:v2:<base64 KMS blob>`. Reading it is the
  one KMS request of a tenant's run.
- An **access token** (one hour of life, written at every renewal, read by every step) is sealed with
  AES-256-GCM under a data key this process asked KMS for (`GenerateDataKey`, context
  `{"token": "access_token"}`) and uses for an hour, for every tenant; the value carries the data
  key as KMS encrypted it: `kms:v2:<base64 encrypted data key>:<base64 nonce || ciphertext>`. Its
  associated data, `["kms:v2", "kms", <user id>, "access_token"]`, binds it to its tenant and
  column. A process opens each data key once (kept for the hour, a bounded number of them).

KMS keeps the key material; a blob names its key, and `Decrypt` is also given the key the row
records, so a value is only ever opened with the key it claims. The contexts are what the
template's IAM conditions require. One client per region, created on first use (boto3 comes with
the Lambda runtime; it is imported only here).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, cast

from books_sync.token_cipher import aead
from books_sync.token_cipher import legacy as v1
from books_sync.token_cipher.contract import (
    KMS_PREFIX,
    LEGACY_KMS_PREFIX,
    Column,
    TokenKeyError,
    associated_data,
    not_current,
    unreadable,
)

DATA_KEY_SECONDS = 3600.0  # how long one data key seals access tokens (they live an hour)
_OPENED_DATA_KEYS = 64  # data keys kept open: one per process that wrote in the last hour or two
ACCESS_CONTEXT = {"token": "access_token"}  # nosec B105 - a column name, not a password

# Answers that mean "this key cannot be used here": the operator's configuration, not the tenant's data.
_KEY_PROBLEMS = {
    "AccessDeniedException",
    "DisabledException",
    "IncorrectKeyException",
    "KMSInvalidStateException",
    "KeyUnavailableException",
    "NotFoundException",
    "UnrecognizedClientException",
    "InvalidKeyUsageException",
}


class KmsApi(Protocol):
    def encrypt(self, **request: Any) -> dict[str, Any]: ...

    def decrypt(self, **request: Any) -> dict[str, Any]: ...

    def generate_data_key(self, **request: Any) -> dict[str, Any]: ...


def region_of(key_id: str) -> str | None:
    """The region an ARN names (`arn:aws:kms:<region>:...`); None for a bare id or alias (the default region)."""
    parts = key_id.split(":")
    return parts[3] or None if len(parts) > 5 and parts[0] == "arn" else None


@lru_cache(maxsize=8)
def kms_client(region: str | None) -> KmsApi:
    import boto3  # noqa: PLC0415 - in the Lambda runtime, not the layer; only when KMS is used

    return cast(KmsApi, boto3.client("kms", region_name=region))


def refresh_context(tenant_id: str) -> dict[str, str]:
    return {"tenant": tenant_id, "token": "refresh_token"}  # nosec B105 - a column name


@dataclass(frozen=True)
class _DataKey:
    sealed: bytes  # as KMS encrypted it: stored in each value
    key: bytes  # the plaintext data key
    made: float  # time.monotonic()


class KmsCipher:
    """`TokenCipher` over one KMS key (id, ARN or alias; empty: the key a blob names, for decrypting only).

    `key_id()` is the key's ARN once a request has named it.
    """

    def __init__(self, key_id: str) -> None:
        self._key_id = key_id
        self._data_key: _DataKey | None = None
        self._opened: OrderedDict[bytes, bytes] = OrderedDict()  # encrypted data key -> data key

    def key_id(self) -> str:
        return self._key_id

    def encrypt(self, plaintext: str, tenant_id: str, column: Column) -> str:
        if column == "refresh_token":
            request = {"KeyId": self._key_id, "Plaintext": plaintext.encode("utf-8")}
            answer = self._call("encrypt", tenant_id, column, EncryptionContext=refresh_context(tenant_id), **request)
            self._key_id = str(answer.get("KeyId") or self._key_id)  # the key's ARN, even when an alias was given
            return KMS_PREFIX + _b64(answer["CiphertextBlob"])
        data_key = self._current_data_key(tenant_id)
        sealed = aead.seal(data_key.key, plaintext.encode("utf-8"), _access_data(tenant_id))
        return f"{KMS_PREFIX}{_b64(data_key.sealed)}:{_b64(sealed)}"

    def decrypt(self, stored: str, tenant_id: str, column: Column, *, legacy: bool = False) -> str:
        if legacy and stored.startswith(LEGACY_KMS_PREFIX):
            body = stored.removeprefix(LEGACY_KMS_PREFIX)
            return self._decrypt_blob(body, tenant_id, column, v1.kms_context(tenant_id))
        if not stored.startswith(KMS_PREFIX):
            raise not_current(tenant_id, column, KMS_PREFIX)
        body = stored.removeprefix(KMS_PREFIX)
        if column == "refresh_token":
            return self._decrypt_blob(body, tenant_id, column, refresh_context(tenant_id))
        sealed_key, _, sealed = body.partition(":")
        try:
            encrypted_key, raw = base64.b64decode(sealed_key, validate=True), base64.b64decode(sealed, validate=True)
        except binascii.Error:
            raise unreadable(tenant_id, column, self._key_id) from None
        if len(raw) <= aead.NONCE_BYTES:  # not an access token's form (e.g. a refresh token moved here): no KMS call
            raise unreadable(tenant_id, column, self._key_id)
        data_key = self._open_data_key(encrypted_key, tenant_id, column)
        plaintext = aead.open_text(data_key, raw, _access_data(tenant_id))
        if plaintext is None:
            raise unreadable(tenant_id, column, self._key_id)
        return plaintext

    def _decrypt_blob(self, body: str, tenant_id: str, column: Column, context: dict[str, str]) -> str:
        try:
            blob = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise unreadable(tenant_id, column, self._key_id) from None
        request = {"CiphertextBlob": blob, "EncryptionContext": context, **self._named()}
        answer = self._call("decrypt", tenant_id, column, **request)
        return bytes(answer["Plaintext"]).decode("utf-8")

    def _named(self) -> dict[str, str]:
        return {"KeyId": self._key_id} if self._key_id else {}  # the key the row records, else the blob's own

    def _current_data_key(self, tenant_id: str) -> _DataKey:
        """This process's data key for access tokens, asked for again after an hour."""
        now = time.monotonic()
        if self._data_key is None or now - self._data_key.made > DATA_KEY_SECONDS:
            request = {"KeyId": self._key_id, "KeySpec": "AES_256", "EncryptionContext": ACCESS_CONTEXT}
            answer = self._call("generate_data_key", tenant_id, "access_token", **request)
            self._key_id = str(answer.get("KeyId") or self._key_id)
            sealed, key = bytes(answer["CiphertextBlob"]), bytes(answer["Plaintext"])
            self._data_key = _DataKey(sealed, key, now)
            self._remember(sealed, key)
        return self._data_key

    def _open_data_key(self, sealed: bytes, tenant_id: str, column: Column) -> bytes:
        key = self._opened.get(sealed)
        if key is None:
            request = {"CiphertextBlob": sealed, "EncryptionContext": ACCESS_CONTEXT, **self._named()}
            answer = self._call("decrypt", tenant_id, column, **request)
            key = bytes(answer["Plaintext"])
            self._remember(sealed, key)
        self._opened.move_to_end(sealed)
        return key

    def _remember(self, sealed: bytes, key: bytes) -> None:
        self._opened[sealed] = key
        while len(self._opened) > _OPENED_DATA_KEYS:
            self._opened.popitem(last=False)

    def _call(self, operation: str, tenant_id: str, column: Column, **request: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError  # noqa: PLC0415

        try:
            return dict(getattr(kms_client(region_of(self._key_id)), operation)(**request))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "InvalidCiphertextException":
                raise unreadable(tenant_id, column, self._key_id) from None
            if code in _KEY_PROBLEMS:
                raise self._key_problem(operation, tenant_id, code) from None
            raise
        except (NoCredentialsError, NoRegionError) as exc:
            raise self._key_problem(operation, tenant_id, type(exc).__name__) from None

    def _key_problem(self, operation: str, tenant_id: str, why: str) -> TokenKeyError:
        return TokenKeyError(
            f"tenant {tenant_id!r}: KMS could not {operation} its tokens with key {self._key_id} ({why}): this "
            "process needs AWS credentials allowed kms:Encrypt, kms:Decrypt and kms:GenerateDataKey on that key "
            "(TOKEN_KMS_KEY_ID) with the encryption contexts the README names"
        )


def _access_data(tenant_id: str) -> bytes:
    return associated_data(KMS_PREFIX, "kms", tenant_id, "access_token")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
