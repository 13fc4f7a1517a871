"""Text from Zoho made safe to hash and store.

Zoho data is untrusted: wrong types become missing values, NUL characters (which Postgres
cannot store) are removed, and absurdly long strings are cut, so one odd field can never make
a whole page fail.
"""

from __future__ import annotations

from typing import Any

MAX_TEXT = 2000
MAX_ID = 64


def clean_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A string Postgres can store, or None: non-strings (other than numbers) are dropped."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", "").strip()
    return text[:limit] if text else None


def clean_id(value: Any) -> str | None:
    """A Zoho record id: 1 to 64 characters, else None."""
    text = clean_text(value, limit=MAX_ID + 1)
    return text if text and len(text) <= MAX_ID else None
