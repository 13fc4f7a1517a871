"""Validation of the events the Lambda steps receive; a bad event fails fast, naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from books_sync.errors import EventError

MAX_USER_IDS = 1000
USER_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")  # what a tenant id may be, everywhere


def _require_object(event: Any) -> Mapping[str, Any]:
    if not isinstance(event, Mapping):
        raise EventError(f"event: expected a JSON object, got {type(event).__name__}")
    return event


def _shown(value: str) -> str:
    """A value quoted for an error message, cut short: a huge input must not make a huge error."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _reject_unknown(event: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(key) for key in event if key not in allowed)
    if unknown:
        names = ", ".join(_shown(name) for name in unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise EventError(f"event: unknown field(s) {names} (expected {', '.join(allowed)})")


def _user_id(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise EventError(f"{field}: expected a string, got {type(value).__name__}")
    if not USER_ID.fullmatch(value):
        raise EventError(f"{field}: {_shown(value)} is not a valid user id (1-128 of A-Z a-z 0-9 _ . : @ -)")
    return value


def _bool(event: Mapping[str, Any], field: str) -> bool:
    value = event.get(field, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise EventError(f"{field}: expected true or false, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class StepEvent:
    """`{"userId": "u1", "fullResync": false, "executionId": "..."}`: what each per-tenant step receives
    (the state machine adds its execution's id, for the logs and `step_runs`)."""

    user_id: str
    full_resync: bool = False
    execution_id: str | None = None


@dataclass(frozen=True)
class ListTenantsEvent:
    """`{}` (all active tenants) or `{"userIds": ["u1"], "fullResync": true}`."""

    user_ids: tuple[str, ...] | None
    full_resync: bool = False
    execution_id: str | None = None  # the state machine's execution (the all-tenant one holds the fleet lease)


def _execution_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 300:
        raise EventError("executionId: expected a string of 1-300 characters")
    return value


def parse_step_event(event: Any) -> StepEvent:
    body = _require_object(event)
    _reject_unknown(body, ("userId", "fullResync", "executionId"))
    if "userId" not in body:
        raise EventError("userId: required")
    return StepEvent(
        user_id=_user_id(body["userId"], "userId"),
        full_resync=_bool(body, "fullResync"),
        execution_id=_execution_id(body.get("executionId")),
    )


def _user_ids(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    raw_ids = body.get("userIds")
    user_ids: tuple[str, ...] | None = None
    if raw_ids is not None:
        if not isinstance(raw_ids, list):
            raise EventError(f"userIds: expected a list of user ids, got {type(raw_ids).__name__}")
        if not raw_ids:
            raise EventError("userIds: empty list (omit the field to sync every active tenant)")
        if len(raw_ids) > MAX_USER_IDS:
            raise EventError(f"userIds: {len(raw_ids)} ids, at most {MAX_USER_IDS} per execution")
        user_ids = tuple(dict.fromkeys(_user_id(value, f"userIds[{i}]") for i, value in enumerate(raw_ids)))
    return user_ids


def parse_list_tenants_event(event: Any) -> ListTenantsEvent:
    """The execution's input, or (from the state machine) `{"request": <the input>, "executionId": ...}`."""
    body = _require_object(event if event is not None else {})
    execution_id = None
    if "request" in body or "executionId" in body:
        _reject_unknown(body, ("request", "executionId"))
        execution_id = _execution_id(body.get("executionId"))
        body = _require_object(body.get("request") if body.get("request") is not None else {})
    _reject_unknown(body, ("userIds", "fullResync"))
    return ListTenantsEvent(user_ids=_user_ids(body), full_resync=_bool(body, "fullResync"), execution_id=execution_id)


@dataclass(frozen=True)
class FreshenEvent:
    """`{}` (every tenant that needs it: the schedule's input) or `{"userIds": ["u1"]}`."""

    user_ids: tuple[str, ...] | None = None


def parse_freshen_event(event: Any) -> FreshenEvent:
    body = _require_object(event if event is not None else {})
    _reject_unknown(body, ("userIds",))
    return FreshenEvent(user_ids=_user_ids(body))


@dataclass(frozen=True)
class WorkListRef:
    """Where an execution's work list is (`books_sync.work_list`): `{"bucket", "key", "count"}`."""

    bucket: str
    key: str


def _work_list(value: Any, field: str) -> WorkListRef:
    body = _require_object(value) if isinstance(value, Mapping) else None
    if body is None or not isinstance(body.get("bucket"), str) or not isinstance(body.get("key"), str):
        raise EventError(f"{field}: expected a work list {{bucket, key, count}}")
    return WorkListRef(body["bucket"], body["key"])


@dataclass(frozen=True)
class ExecutionEvent:
    """What the states after the quiet tenants receive (RestTenants, Summarize): `{"executionId",
    "selection": <ListTenants' output, with its work lists>}`."""

    execution_id: str
    selection: Mapping[str, Any]
    quiet: WorkListRef
    heavy: WorkListRef


def _required_execution_id(body: Mapping[str, Any]) -> str:
    execution_id = _execution_id(body.get("executionId"))
    if execution_id is None:
        raise EventError("executionId: required")
    return execution_id


def parse_execution_event(event: Any) -> ExecutionEvent:
    body = _require_object(event)
    _reject_unknown(body, ("executionId", "selection", "rest"))
    execution_id = _required_execution_id(body)
    selection = body.get("selection")
    if not isinstance(selection, Mapping):
        raise EventError("selection: expected ListTenants' output (an object)")
    lists = selection.get("workLists")
    if not isinstance(lists, Mapping):
        raise EventError("selection.workLists: expected {quiet, heavy}")
    quiet = _work_list(lists.get("quiet"), "selection.workLists.quiet")
    return ExecutionEvent(execution_id, selection, quiet, _work_list(lists.get("heavy"), "selection.workLists.heavy"))


@dataclass(frozen=True)
class BatchEvent:
    """A batch of quiet tenants, as the QuietTenants Map's ItemBatcher sends it: `{"Items": [{"userId"}...],
    "BatchInput": {"executionId", "fullResync", "maxRounds"}}`."""

    user_ids: tuple[str, ...]
    execution_id: str | None
    full_resync: bool = False


def parse_batch_event(event: Any) -> BatchEvent:
    body = _require_object(event)
    _reject_unknown(body, ("Items", "BatchInput"))
    items = body.get("Items")
    if not isinstance(items, list) or not 0 < len(items) <= MAX_USER_IDS:
        raise EventError(f"Items: expected a list of 1-{MAX_USER_IDS} {{userId}} objects")
    user_ids = []
    for index, item in enumerate(items):
        item_body = _require_object(item) if isinstance(item, Mapping) else None
        if item_body is None:
            raise EventError(f"Items[{index}]: expected an object {{userId}}")
        user_ids.append(_user_id(item_body.get("userId"), f"Items[{index}].userId"))
    batch_input = _require_object(body.get("BatchInput") if body.get("BatchInput") is not None else {})
    _reject_unknown(batch_input, ("executionId", "fullResync", "maxRounds"))
    return BatchEvent(tuple(user_ids), _execution_id(batch_input.get("executionId")), _bool(batch_input, "fullResync"))


@dataclass(frozen=True)
class CaughtFailureEvent:
    """What a tenant's child execution sends after catching a step's error: `{"userId", "executionId",
    "error": {"Error": "States.Timeout", "Cause": "..."}}` (the Catch's `$.error`)."""

    user_id: str
    execution_id: str
    error: str  # the error's name and, for a Lambda function error, its message (never its stack trace)


def _caught_error(value: Any) -> str:
    body = _require_object(value) if isinstance(value, Mapping) else None
    if body is None or not isinstance(body.get("Error"), str):
        raise EventError("error: expected the Catch's {Error, Cause}")
    cause = body.get("Cause")
    try:
        message = json.loads(cause).get("errorMessage") if isinstance(cause, str) else None
    except (ValueError, AttributeError):
        message = None
    name = body["Error"][:100]
    return f"{name}: {str(message)[:200]}" if message else name


def parse_caught_failure_event(event: Any) -> CaughtFailureEvent:
    body = _require_object(event)
    _reject_unknown(body, ("userId", "executionId", "error"))
    execution_id = _required_execution_id(body)
    return CaughtFailureEvent(_user_id(body.get("userId"), "userId"), execution_id, _caught_error(body.get("error")))


@dataclass(frozen=True)
class MigrateEvent:
    """`{}` (the newest migration) or `{"to": 12}`: the migrate function's input."""

    to: int | None = None


def parse_migrate_event(event: Any) -> MigrateEvent:
    body = _require_object(event if event is not None else {})
    _reject_unknown(body, ("to",))
    to = body.get("to")
    if to is not None and (isinstance(to, bool) or not isinstance(to, int) or to < 1):
        raise EventError("to: expected a migration number (a positive integer)")
    return MigrateEvent(to)
