"""A set of row keys in about 8 bytes each, for a pass that must remember every row it took.

A pass over 500,000 invoices remembered each as a tuple of two strings in a Python set: 209 bytes
a row, 104 MB by the end (measured with tracemalloc; the invoice step's peak went from 95 MB at
50,000 invoices to 199 MB at 500,000). Here a key is its 64-bit BLAKE2b digest: recent ones in a
small set, the rest in one sorted array searched by bisection. Two different keys share a digest
with odds of about n²/2⁶⁵ (3·10⁻⁸ at a million rows); a shared digest can only make a new row look
repeated, and a pass is refused as stalled only when every new row of a full page looks repeated.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from heapq import merge

_RECENT = 65_536  # digests held in the set before they are merged into the sorted array


def digest(parts: Iterable[str]) -> int:
    joined = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(joined, digest_size=8).digest(), "big")


class SeenKeys:
    """Keys (tuples of strings) added and asked about; memory grows by 8 bytes a key."""

    def __init__(self) -> None:
        self._sorted = array("Q")
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def __contains__(self, key: tuple[str, ...]) -> bool:
        value = digest(key)
        return value in self._recent or self._in_sorted(value)

    def update(self, keys: Iterable[tuple[str, ...]]) -> None:
        for key in keys:
            value = digest(key)
            if not self._in_sorted(value):
                self._recent.add(value)
        if len(self._recent) >= _RECENT:
            self._merge()

    def _in_sorted(self, value: int) -> bool:
        at = bisect_left(self._sorted, value)
        return at < len(self._sorted) and self._sorted[at] == value

    def _merge(self) -> None:
        self._sorted = array("Q", merge(self._sorted, sorted(self._recent)))
        self._recent.clear()
