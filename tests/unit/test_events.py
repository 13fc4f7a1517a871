from __future__ import annotations

from typing import Any

import pytest

from books_sync.errors import EventError
from books_sync.events import parse_list_tenants_event, parse_step_event


def test_step_event() -> None:
    assert parse_step_event({"userId": "u1"}).full_resync is False
    event = parse_step_event({"userId": "tenant-7@acme.io", "fullResync": True})
    assert (event.user_id, event.full_resync) == ("tenant-7@acme.io", True)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "event: expected a JSON object, got NoneType"),
        ([], "event: expected a JSON object, got list"),
        ({}, "userId: required"),
        ({"userId": 7}, "userId: expected a string, got int"),
        ({"userId": ""}, "userId: '' is not a valid user id"),
        ({"userId": "a b"}, "userId: 'a b' is not a valid user id"),
        ({"userId": "u1\n"}, "userId: 'u1\\n' is not a valid user id"),
        ({"userId": "x" * 5000}, "userId: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is not a valid user id"),
        ({"userId": "u1", "fullResync": "yes"}, "fullResync: expected true or false, got str"),
        (
            {"userId": "u1", "userid": "u2"},
            "event: unknown field(s) 'userid' (expected userId, fullResync, executionId)",
        ),
    ],
)
def test_bad_step_event_names_the_field(event: Any, message: str) -> None:
    with pytest.raises(EventError) as raised:
        parse_step_event(event)
    assert str(raised.value).startswith(message)


def test_list_tenants_event() -> None:
    assert parse_list_tenants_event({}).user_ids is None
    event = parse_list_tenants_event({"userIds": ["u1", "u2", "u1"], "fullResync": True})
    assert event.user_ids == ("u1", "u2")
    assert event.full_resync is True


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"userIds": "u1"}, "userIds: expected a list of user ids, got str"),
        ({"userIds": []}, "userIds: empty list"),
        ({"userIds": ["u1", 2]}, "userIds[1]: expected a string, got int"),
        ({"userIds": ["ok"] * 1001}, "userIds: 1001 ids, at most 1000"),
        ({"tenants": ["u1"]}, "event: unknown field(s) 'tenants'"),
    ],
)
def test_bad_list_tenants_event(event: Any, message: str) -> None:
    with pytest.raises(EventError) as raised:
        parse_list_tenants_event(event)
    assert str(raised.value).startswith(message)
