"""The sample events for `sam local invoke` are valid input for their steps; env.json is well formed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from books_sync.events import parse_batch_event, parse_list_tenants_event, parse_step_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["list_tenants_all.json", "list_tenants_some.json"])
def test_list_tenants_events_parse(name: str) -> None:
    parse_list_tenants_event(json.loads((ROOT / "events" / name).read_text()))


@pytest.mark.parametrize("name", ["customer_sync.json", "invoice_sync.json", "reminders.json"])
def test_step_events_parse(name: str) -> None:
    assert parse_step_event(json.loads((ROOT / "events" / name).read_text())).user_id == "demo"


def test_the_batch_event_parses() -> None:
    assert parse_batch_event(json.loads((ROOT / "events" / "tenant_batch.json").read_text())).user_ids == ("demo",)


def test_env_json_points_sam_local_at_a_database_and_the_emulator() -> None:
    env = json.loads((ROOT / "env.json").read_text())
    assert set(env) == {"Parameters"}  # the same variables for every function
    variables = env["Parameters"]
    assert variables["DATABASE_URL"].startswith("postgresql://")
    assert variables["ZOHO_API_BASE_URL"].endswith("/books/v3")
    assert variables["ZOHO_ACCOUNTS_BASE_URL"].startswith("http")
