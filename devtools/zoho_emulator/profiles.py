"""Two answers to "how does Zoho behave?": as its API reference documents it, and as observed so far.

Where the two differ the pipeline must be right for both, so each organization picks one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

Profile = Literal["observed", "documented"]
PROFILES: tuple[Profile, ...] = get_args(Profile)
RecordKind = Literal["contacts", "invoices"]


def parse_profile(value: Any) -> Profile:
    """A profile name from a control request, or a clear error."""
    for profile in PROFILES:
        if value == profile:
            return profile
    raise ValueError(f"unknown profile {value!r}; one of {', '.join(PROFILES)}")


@dataclass(frozen=True)
class Ordering:
    """How a list is sorted: columns (later ones break ties, then the id), direction, and what
    page_context reports as the sort column."""

    columns: tuple[str, ...]
    order: str  # "D" descending; anything else ascending, as Zoho echoes it back
    reported_column: str

    @property
    def descending(self) -> bool:
        return self.order == "D"


@dataclass(frozen=True)
class ListRules:
    """One profile's behaviour for one list endpoint."""

    sort_columns: frozenset[str]
    default: Ordering
    unknown_sort_is_error: bool  # False: an unknown sort_column is ignored and `default` used whole
    honours_modified_filter: bool
    honours_contact_type: bool
    strict_since: bool  # last_modified_time means "greater than" rather than "at or after"
    report_name: str | None  # documented page_context names the report and the applied filter
    page_context_as_array: bool
    honours_sort_order: bool = True  # False: sort_order (documented for no list) ignored, ascending

    def without_undocumented(self, kind: RecordKind) -> ListRules:
        """These rules when Zoho ignores what its reference does not document (see OrgOptions)."""
        filters = self.honours_modified_filter and kind != "contacts"
        return replace(self, honours_modified_filter=filters, honours_sort_order=False)


@dataclass(frozen=True)
class ProfileRules:
    """Everything a profile decides."""

    lists: Mapping[RecordKind, ListRules]
    documented_organization: bool  # address.country and a zone abbreviation, no top-level country
    rate_limit_headers: bool  # X-Rate-Limit-* on answers unless an org or a setting says otherwise


# Observed: what production taps send works, an unknown sort column is refused.
_OBSERVED_CONTACTS = ListRules(
    sort_columns=frozenset({"last_modified_time", "created_time", "contact_name", "customer_name", "date", "due_date"}),
    default=Ordering(("contact_name",), "A", "contact_name"),
    unknown_sort_is_error=True,
    honours_modified_filter=True,
    honours_contact_type=True,
    strict_since=False,
    report_name=None,
    page_context_as_array=False,
)
_OBSERVED_INVOICES = replace(_OBSERVED_CONTACTS, default=Ordering(("date",), "D", "date"), honours_contact_type=False)
# Documented: only what the reference lists is honoured; the rest is ignored, not refused.
_DOCUMENTED_CONTACT_SORT = frozenset(
    {
        "contact_name",
        "first_name",
        "last_name",
        "email",
        "outstanding_receivable_amount",
        "created_time",
        "last_modified_time",
    }
)
_DOCUMENTED_CONTACTS = replace(
    _OBSERVED_CONTACTS,
    sort_columns=_DOCUMENTED_CONTACT_SORT,
    unknown_sort_is_error=False,
    honours_modified_filter=False,  # no last_modified_time filter documented for contacts
    honours_contact_type=False,
    strict_since=True,
    report_name="Contacts",
)
_DOCUMENTED_INVOICES = replace(
    _DOCUMENTED_CONTACTS,
    sort_columns=frozenset({"customer_name", "invoice_number", "date", "due_date", "total", "balance", "created_time"}),
    default=Ordering(("date", "created_time"), "D", "created_time"),  # newest date first; reported as Zoho's sample
    honours_modified_filter=True,
    report_name="Invoices",
    page_context_as_array=True,
)

RULES: Mapping[Profile, ProfileRules] = {
    "observed": ProfileRules(
        lists={"contacts": _OBSERVED_CONTACTS, "invoices": _OBSERVED_INVOICES},
        documented_organization=False,
        rate_limit_headers=True,
    ),
    "documented": ProfileRules(
        lists={"contacts": _DOCUMENTED_CONTACTS, "invoices": _DOCUMENTED_INVOICES},
        documented_organization=True,
        rate_limit_headers=False,
    ),
}
