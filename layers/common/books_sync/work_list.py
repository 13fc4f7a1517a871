"""An execution's work lists in S3: which tenants each Distributed Map runs (its `ItemReader` reads them).

A list is a JSON array of `{"userId": ...}` objects under `executions/<execution name>/<name>.json`:
the tenant ids never travel through the state machine's payloads (256 KB: about 6,000 ids), whatever
the fleet's size. The bucket expires them after a week. boto3 (the Lambda runtime's) is imported
only here, when a list is written or read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from books_sync.errors import SettingsError


@dataclass(frozen=True)
class WorkList:
    bucket: str
    key: str
    count: int

    def to_output(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "count": self.count}


@lru_cache(maxsize=1)
def _s3() -> Any:
    import boto3  # noqa: PLC0415 - the runtime's; only the functions that write or read a list need it

    return boto3.client("s3")


def execution_name(execution_id: str) -> str:
    """The execution's name (the ARN's last part), or the whole id when it is not an ARN."""
    return execution_id.rsplit(":", 1)[-1] or "execution"


def write(bucket: str | None, execution_id: str, name: str, user_ids: Iterable[str]) -> WorkList:
    if not bucket:
        raise SettingsError("WORK_LIST_BUCKET is not set: the template sets it to the stack's work-list bucket")
    items = [{"userId": user_id} for user_id in user_ids]
    key = f"executions/{execution_name(execution_id)}/{name}.json"
    body = json.dumps(items, separators=(",", ":")).encode("utf-8")
    _s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return WorkList(bucket, key, len(items))


def read(bucket: str, key: str) -> list[str]:
    """The user ids of a list `write` wrote."""
    body = _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    return [str(item["userId"]) for item in json.loads(body)]


def reset() -> None:
    """Forget the S3 client (a new moto mock in tests)."""
    _s3.cache_clear()
