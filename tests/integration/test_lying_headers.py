"""Issue 25: `X-Rate-Limit-*` headers that lie (a proxy or Zoho itself) are ignored or clamped; the run
goes on and what is stored fits its column. The emulator's `observed` profile sends the headers; the
organization option `rate_limit_header_values` replaces their values."""

from __future__ import annotations

import pytest

from books_sync.db import Database
from tests.support import MakeOrg, call_step

_TRUE_LIMIT = 1000
LYING_HEADERS = {
    "limit above 2^31-1": ({"X-Rate-Limit-Limit": "99999999999"}, None),
    "remaining above 2^31-1": ({"X-Rate-Limit-Remaining": "3000000000"}, (_TRUE_LIMIT, _TRUE_LIMIT)),  # clamped
    "negative limit": ({"X-Rate-Limit-Limit": "-5"}, None),
    "negative remaining": ({"X-Rate-Limit-Remaining": "-1"}, None),
    "non-numeric": ({"X-Rate-Limit-Limit": "lots", "X-Rate-Limit-Remaining": "some"}, None),
    "absurd limit": ({"X-Rate-Limit-Limit": "2000000000"}, None),  # no Zoho plan allows 2 billion calls a day
    "remaining above limit": ({"X-Rate-Limit-Remaining": "5000"}, (_TRUE_LIMIT, _TRUE_LIMIT)),  # clamped
    "reset in the past": ({"X-Rate-Limit-Reset": "-30"}, "no reset"),
    "reset as a past Unix time": ({"X-Rate-Limit-Reset": "1000000000"}, "no reset"),
    "reset years ahead": ({"X-Rate-Limit-Reset": "4102444800"}, "no reset"),  # 2100-01-01
    "reset not a number": ({"X-Rate-Limit-Reset": "soon"}, "no reset"),
    "reset not finite": ({"X-Rate-Limit-Reset": "1e999"}, "no reset"),
}


@pytest.mark.parametrize("case", list(LYING_HEADERS), ids=list(LYING_HEADERS))
def test_rate_limit_headers_that_lie_are_ignored_or_clamped(db: Database, make_org: MakeOrg, case: str) -> None:
    values, expected = LYING_HEADERS[case]
    org = make_org(customers=5, invoices=5, daily_limit=_TRUE_LIMIT)
    org.control.configure_org(org.organization_id, rate_limit_header_values=values)
    for step in ("customer-sync", "invoice-sync"):
        assert call_step(step, org)["status"] == "ok", step
    usage = db.one(
        "SELECT zoho_limit, zoho_remaining, zoho_resets_at - zoho_reported_at AS resets_in FROM zoho_api_usage "
        "WHERE organization_id = :o",
        o=org.organization_id,
    )
    assert usage is not None
    if expected is None:  # the quota is not believed at all: our own count stands
        assert (usage["zoho_limit"], usage["zoho_remaining"]) == (None, None)
    elif expected == "no reset":  # limit and remaining are true; the reset is not believed
        assert usage["zoho_limit"] == _TRUE_LIMIT and usage["resets_in"] is None
    else:
        assert (usage["zoho_limit"], usage["zoho_remaining"]) == expected
