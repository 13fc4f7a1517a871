"""`zoho-sync status`: when a deferred tenant resumes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from books_sync.storage.step_runs import StepRun
from zoho_sync_cli.status_cmd import _resumes, _zoho_reopens_at

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
DEFERRED = {"customer": StepRun("u1", "customer", NOW, NOW, "deferred", False, 10, None, None)}


def usage(calls: int, remaining: int | None, resets_in_hours: float | None) -> dict[str, Any]:
    resets = NOW + timedelta(hours=resets_in_hours) if resets_in_hours is not None else None
    return {"zoho_calls_today": calls, "zoho_remaining": remaining, "zoho_resets_at": resets}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(usage(10, 0, 2), "2026-12-04 20:00", id="Zoho's quota spent: its reset"),
        pytest.param(usage(10, 0, 9), "2026-12-05 00:00", id="a reset after midnight: the new UTC day"),
        pytest.param(usage(10, 0, None), "2026-12-05 00:00", id="no reset given: the new UTC day"),
        pytest.param(usage(1000, 0, 2), "2026-12-05 00:00", id="our own budget spent: Zoho's reset does not help"),
        pytest.param(usage(1000, 400, 2), "2026-12-05 00:00", id="our budget spent, Zoho has calls left"),
    ],
)  # fmt: skip
def test_a_deferred_tenant_resumes_when_the_spent_quota_reopens(row: dict[str, Any], expected: str) -> None:
    resumes = _resumes(DEFERRED, NOW, _zoho_reopens_at(row, budget=1000))
    assert resumes == f"after {expected} UTC (the day's Zoho calls are spent)"


def test_a_tenant_that_saved_its_place_resumes_on_the_next_run() -> None:
    paused = {"invoice": StepRun("u1", "invoice", NOW, NOW, "ok", True, 10, None, None)}
    assert _resumes(paused, NOW, None) == "on the next run (it stopped to save its place)"
    assert _resumes({}, NOW, None) is None
