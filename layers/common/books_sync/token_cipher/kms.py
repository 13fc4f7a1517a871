"""Tokens encrypted by AWS KMS directly (they are far below its 4 KB limit), the tenant id as context.

KMS keeps the key material; its ciphertext blob names the key, and `Decrypt` is also given the key
the row records, so a value is only ever opened with the key it claims. A blob moved to another
tenant's row fails: the encryption context `{"tenant": <user id>}` must match. One client per
region, created on first use (boto3 comes with the Lambda runtime; it is imported only here).
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Any, Protocol, cast

from books_sync.token_cipher.contract import KMS_PREFIX, TokenKeyError, TokenUnreadable

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


def region_of(key_id: str) -> str | None:
    """The region an ARN names (`arn:aws:kms:<region>:...`); None for a bare id or alias (the default region)."""
    parts = key_id.split(":")
    return parts[3] or None if len(parts) > 5 and parts[0] == "arn" else None


@lru_cache(maxsize=8)
def kms_client(region: str | None) -> KmsApi:
    import boto3  # noqa: PLC0415 - in the Lambda runtime, not the layer; only when KMS is used

    return cast(KmsApi, boto3.client("kms", region_name=region))


class KmsCipher:
    """`TokenCipher` over one KMS key (id, ARN or alias; empty: the key a blob names, for decrypting only).

    `key_id()` is the key's ARN once an encryption has named it.
    """

    def __init__(self, key_id: str) -> None:
        self._key_id = key_id

    def key_id(self) -> str:
        return self._key_id

    def encrypt(self, plaintext: str, tenant_id: str) -> str:
        context = {"tenant": tenant_id}
        answer = self._call(
            "encrypt", tenant_id, KeyId=self._key_id, Plaintext=plaintext.encode("utf-8"), EncryptionContext=context
        )
        self._key_id = str(answer.get("KeyId") or self._key_id)  # the key's ARN, even when an alias was given
        return KMS_PREFIX + base64.b64encode(answer["CiphertextBlob"]).decode("ascii")

    def decrypt(self, stored: str, tenant_id: str) -> str:
        try:
            blob = base64.b64decode(stored.removeprefix(KMS_PREFIX), validate=True)
        except binascii.Error:
            raise self._unreadable(tenant_id) from None
        named = {"KeyId": self._key_id} if self._key_id else {}  # the key the row records, else the blob's own
        answer = self._call("decrypt", tenant_id, CiphertextBlob=blob, EncryptionContext={"tenant": tenant_id}, **named)
        return bytes(answer["Plaintext"]).decode("utf-8")

    def _unreadable(self, tenant_id: str) -> TokenUnreadable:
        return TokenUnreadable(
            f"tenant {tenant_id!r}: a stored token does not open with KMS key {self._key_id}: it was altered or "
            "copied from another tenant's row; add the tenant again with its refresh token"
        )

    def _call(self, operation: str, tenant_id: str, **request: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError  # noqa: PLC0415

        try:
            return dict(getattr(kms_client(region_of(self._key_id)), operation)(**request))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "InvalidCiphertextException":
                raise self._unreadable(tenant_id) from None
            if code in _KEY_PROBLEMS:
                raise self._key_problem(operation, tenant_id, code) from None
            raise
        except (NoCredentialsError, NoRegionError) as exc:
            raise self._key_problem(operation, tenant_id, type(exc).__name__) from None

    def _key_problem(self, operation: str, tenant_id: str, why: str) -> TokenKeyError:
        return TokenKeyError(
            f"tenant {tenant_id!r}: KMS could not {operation} its tokens with key {self._key_id} ({why}): this "
            "process needs AWS credentials allowed kms:Encrypt and kms:Decrypt on that key (TOKEN_KMS_KEY_ID)"
        )
