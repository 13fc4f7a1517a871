"""The emulator pages a list in O(page) (issue 28): at 500,000 invoices, filtering the whole list again for every
page made the emulator, not the sync, the bottleneck (a core at 100%, the sync waiting at 11%)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from zoho_emulator import listing
from zoho_emulator.profiles import RULES
from zoho_emulator.state import Emulator


def test_a_pass_filters_its_list_once_not_once_per_page(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = Emulator()
    emulator.add_org("1", customers=50, invoices=2_000, seed=3)
    stored = emulator.store.get("1")
    kept = 0
    real = listing._keeper

    def counting(*args: Any) -> Any:
        keep = real(*args)

        def counted(record: Any) -> bool:
            nonlocal kept
            kept += 1
            return bool(keep(record))

        return counted

    monkeypatch.setattr(listing, "_keeper", counting)
    since = (datetime.now(UTC) - timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    params = {"last_modified_time": since, "per_page": "200", "sort_column": "created_time"}
    rules = RULES["observed"].lists["invoices"]
    pages = [listing.list_payload(emulator.store, stored, "invoices", {**params, "page": str(n)}, rules)
             for n in range(1, 11)]  # fmt: skip
    assert sum(len(page["invoices"]) for page in pages) == 2_000
    assert kept == 2_000  # every invoice judged once for the whole pass (offset paging judged 11,000 before)
    emulator.update_invoice("1", pages[0]["invoices"][0]["invoice_id"], {"balance": 1.0})  # a change: again
    listing.list_payload(emulator.store, stored, "invoices", {**params, "page": "2"}, rules)
    assert kept == 4_000
