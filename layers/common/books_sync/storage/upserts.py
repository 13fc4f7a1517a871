"""What a set-based page upsert reports: rows inserted, updated, and found unchanged (only touched)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> UpsertCounts:
        """The `SELECT inserted, updated, touched` row that ends each page upsert statement."""
        inserted, updated, touched = (int(value) for value in row)
        return cls(inserted=inserted, updated=updated, unchanged=touched)
