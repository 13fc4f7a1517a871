"""List endpoints: which rows a query keeps, in what order, and which page of them it gets.

The profile's ListRules decide what Zoho honours (filters, sort columns) and how strict the
last_modified_time filter is.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from zoho_emulator.profiles import ListRules, Ordering, RecordKind
from zoho_emulator.rendering import contact_row, page_context, zoho_times
from zoho_emulator.store import DataStore, Record, StoredOrg, sort_key
from zoho_emulator.wire import ApiError

MAX_PER_PAGE = 200


@dataclass(frozen=True)
class ListQuery:
    """One list request, read as the organization's profile reads it."""

    kind: RecordKind
    page: int
    per_page: int
    since: datetime | None
    ordering: Ordering
    status_filter: str
    contact_type: str | None


def parse_zoho_time(raw: str) -> datetime:
    """Zoho's `yyyy-MM-ddTHH:mm:ss+hhmm`; a '+' sent unencoded in a query string arrives as a space."""
    text = raw.strip().replace(" ", "+")
    if text.endswith("Z"):
        text = text[:-1] + "+0000"
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


def _page(params: dict[str, str]) -> tuple[int, int]:
    try:
        page = int(params.get("page", "1"))
        per_page = min(int(params.get("per_page", str(MAX_PER_PAGE))), MAX_PER_PAGE)
        if page < 1 or per_page < 1:
            raise ValueError
    except ValueError:
        raise ApiError(400, 2, "Invalid value passed for page or per_page") from None
    return page, per_page


def _since(params: dict[str, str], rules: ListRules) -> datetime | None:
    if not rules.honours_modified_filter or not params.get("last_modified_time"):
        return None
    try:
        return parse_zoho_time(params["last_modified_time"])
    except ValueError:
        raise ApiError(400, 2, "Invalid value passed for last_modified_time") from None


def _ordering(params: dict[str, str], rules: ListRules) -> Ordering:
    """The asked sort column if the profile knows it; else a 400 (observed) or the whole default
    order, asked direction ignored (documented)."""
    default = rules.default
    column = params.get("sort_column")
    asked = params.get("sort_order", default.order) if rules.honours_sort_order else "A"
    if column is None:
        return Ordering(default.columns, asked, default.reported_column)
    if column in rules.sort_columns:
        return Ordering((column,), asked, column)
    if rules.unknown_sort_is_error:
        raise ApiError(400, 2, "Invalid value passed for sort_column")
    return default


def parse_query(kind: RecordKind, params: dict[str, str], rules: ListRules) -> ListQuery:
    page, per_page = _page(params)
    return ListQuery(
        kind=kind,
        page=page,
        per_page=per_page,
        since=_since(params, rules),
        ordering=_ordering(params, rules),
        status_filter=params.get("filter_by", "Status.All"),
        contact_type=params.get("contact_type") if rules.honours_contact_type else None,
    )


def _wanted_status(kind: RecordKind, status_filter: str) -> tuple[str | None, bool]:
    """(the status a filter_by keeps, or None for any; whether only unpaid invoices are kept)."""
    if kind == "contacts":
        if status_filter in ("Status.Active", "Status.Inactive"):
            return status_filter.split(".")[1].lower(), False
        return None, False
    if status_filter == "Status.Unpaid":
        return None, True
    if status_filter == "Status.All":
        return None, False
    return status_filter.split(".")[1].lower().replace("partiallypaid", "partially_paid"), False


def _keeper(query: ListQuery, since: datetime | None, strict: bool) -> Callable[[Record], bool]:
    """What the query keeps: modified since (at or after, or strictly after), contact type, status."""
    wanted, unpaid_only = _wanted_status(query.kind, query.status_filter)

    def keep(record: Record) -> bool:
        if since is not None:
            modified = record["last_modified_time"]
            if modified < since or (strict and modified == since):
                return False
        if query.contact_type and record.get("contact_type") != query.contact_type:
            return False
        if wanted is not None and record.get("status") != wanted:
            return False
        return not unpaid_only or (
            _owed(record.get("balance")) and record.get("status") not in ("draft", "void", "paid")
        )

    return keep


def _first_candidate(ordered: list[Any], query: ListQuery, strict: bool) -> int:
    """Where rows modified since `query.since` start, when the list is sorted by that time, oldest first."""
    target = sort_key(query.since)
    find = bisect.bisect_right if strict else bisect.bisect_left
    return find(ordered, target, key=lambda entry: entry[0][0])


_FILTERED_KEPT = 64  # queries whose matching ids one organization keeps (a new pass's `since` is a new one)


def _kept_ids(  # noqa: PLR0917 - one query, spelled out
    stored: StoredOrg,
    kind: RecordKind,
    ordered: list[Any],
    first: int,
    query: ListQuery,
    since: datetime | None,
    strict: bool,
) -> list[str]:
    """The ids a list query keeps, in order, computed once per query and organization state (a change clears
    it): paging by offset is then O(page), not O(offset), so a 500,000-invoice pass is linear here too."""
    key = (kind, query.ordering.columns, query.ordering.descending, first, since, strict, query.contact_type,
           query.status_filter)  # fmt: skip
    cached = stored.filtered_cache.get(key)
    if cached is None:
        records, keep = stored.records(kind), _keeper(query, since, strict)
        cached = [record_id for _, record_id in islice(ordered, first, None) if keep(records[record_id])]
        if len(stored.filtered_cache) >= _FILTERED_KEPT:
            stored.filtered_cache.clear()
        stored.filtered_cache[key] = cached
    return cached


def list_payload(
    store: DataStore, stored: StoredOrg, kind: RecordKind, params: dict[str, str], rules: ListRules
) -> dict[str, Any]:
    """The JSON answer of GET /contacts or GET /invoices for one organization."""
    query = parse_query(kind, params, rules)
    ordering = query.ordering
    ordered = store.sorted_records(stored, kind, ordering.columns, ordering.descending)
    since, first = query.since, 0
    by_time_ascending = ordering.columns == ("last_modified_time",) and not ordering.descending
    if since is not None and by_time_ascending:
        first, since = _first_candidate(ordered, query, rules.strict_since), None
    records = stored.records(kind)
    kept = _kept_ids(stored, kind, ordered, first, query, since, rules.strict_since)
    start = (query.page - 1) * query.per_page
    selected = [records[record_id] for record_id in kept[start : start + query.per_page + 1]]  # +1: a page follows?
    org = stored.data
    render = contact_row if kind == "contacts" else zoho_times
    return {
        "code": 0,
        "message": "success",
        kind: [render(org, record) for record in selected[: query.per_page]],
        "page_context": page_context(
            rules,
            page=query.page,
            per_page=query.per_page,
            has_more=len(selected) > query.per_page,
            ordering=ordering,
            status_filter=query.status_filter,
        ),
    }


def _owed(balance: object) -> bool:
    """Whether an invoice's balance (whatever a test stored in it) says money is owed."""
    try:
        return float(balance) > 0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
