"""The Zoho Books API client: spends calls carefully and survives every way the API fails.

- asks its `CallBudget` before every call: for the organization's turn (its pace is shared by
  every process, so no 429s in normal operation) and against the daily budget, ours and what
  Zoho reports left, so a step stops cleanly (`DailyBudgetReached`) and resumes tomorrow;
- 429 → backoff with jitter; 5xx, timeouts, connection errors, truncated bodies → bounded retries;
  401 → one token refresh and a retry; 404/code 1002 → `ZohoNotFound`; other 4xx → `ZohoApiError`;
  an answer that is not what the API promises → `ZohoProtocolError` naming the endpoint.

It knows nothing of the database: the budget and the token store are handed to it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests

from books_sync.errors import (
    DailyBudgetReached,
    OutOfTime,
    ZohoAuthError,
    ZohoProtocolError,
    ZohoRateLimited,
    ZohoUnavailable,
)
from books_sync.settings import Settings
from books_sync.zoho.auth import TokenProvider
from books_sync.zoho.data_centers import api_root
from books_sync.zoho.responses import (
    DailyLimitReached,
    Failure,
    Quota,
    Success,
    Unauthorized,
    Verdict,
    classify,
    quota_from_headers,
)
from books_sync.zoho.retry import Retrying, TryAgain
from books_sync.zoho.timestamps import format_zoho_time

PER_PAGE = 200
_NETWORK_ERRORS = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)

_local = threading.local()


def _refused(exc: BaseException) -> bool:
    """Whether a connection error is a refusal (nothing listens: a wrong URL, a stopped emulator), whatever
    requests and urllib3 wrapped it in."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError) or "Connection refused" in str(seen):
            return True
        wrapped = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = seen.__cause__ or seen.__context__ or wrapped
    return False


def http_session() -> requests.Session:
    """One keep-alive session per thread, reused across warm Lambda invocations."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.headers["User-Agent"] = "zoho-books-sync/0.1"
        _local.session = session
    return session


@dataclass
class CallCounter:
    """Every request that reaches Zoho, the token endpoint's included, per endpoint."""

    by_endpoint: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_endpoint.values())

    def __call__(self, endpoint: str) -> None:
        self.by_endpoint[endpoint] += 1


class CallBudget(Protocol):
    """The organization's calls, shared by every process calling Zoho for it: today's allowance
    (ours, and what Zoho reports left) and the pace (Zoho allows about 100 calls a minute)."""

    def reserve(self, endpoint: str) -> float:
        """Count one more call and take its turn: the seconds to wait before sending it; or raise
        `DailyBudgetReached`."""

    def observe(self, quota: Quota) -> None:
        """Zoho reported the organization's daily quota and what remains of it."""

    def mark_spent(self) -> None:
        """Zoho said today's calls are spent: nobody should call again today."""


class Breaker(Protocol):
    """The data center's circuit breaker, shared by every process (storage.breakers)."""

    def admit(self, endpoint: str) -> str:
        """Whether a call may go: "clean" (nothing failing), "watch" (some organization failing), "probe"
        (the one call allowed while open); raises `ZohoDown` while it is open."""

    def failed(self) -> None:
        """Zoho did not answer (5xx, a timeout, no connection) for this organization."""

    def answered(self) -> None:
        """Zoho answered (whatever it said): it works; the breaker forgets failures and closes."""


class _NoBreaker:
    """For a client on its own (the token check of `tenant add`): nothing shared to trip."""

    def admit(self, endpoint: str) -> str:
        return "clean"

    def failed(self) -> None:
        return None

    def answered(self) -> None:
        return None


MIN_CALL_SECONDS = 3.0  # a call needs at least this much of the time left (connect and a short answer)


@dataclass(frozen=True)
class Page:
    """One page of a list call: the raw rows (callers validate them) and whether more follow."""

    rows: list[Any]
    page: int
    has_more: bool


class ZohoClient:
    """Calls the Books API for one tenant's organization."""

    def __init__(
        self,
        organization_id: str,
        data_center: str,
        *,
        budget: CallBudget,
        tokens: TokenProvider,
        settings: Settings,
        session: requests.Session,
        retrying: Retrying,
        counter: CallCounter,
        sleep: Callable[[float], None] = time.sleep,
        breaker: Breaker | None = None,
        deadline: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.organization_id = organization_id
        self.data_center = data_center
        self.session = session
        self.budget = budget
        self.tokens = tokens
        self.retrying = retrying
        self.counter = counter
        self._last_token: str | None = None  # the access token of the last request sent
        self.breaker = breaker or _NoBreaker()
        self.deadline = deadline  # seconds left for Zoho calls (None: no limit)
        self._sleep = sleep
        self.waited_seconds = 0.0  # time spent waiting for this organization's turn

    @property
    def retries(self) -> int:
        return self.retrying.retries

    @property
    def calls(self) -> int:
        return self.counter.total

    @property
    def calls_by_endpoint(self) -> Counter[str]:
        return self.counter.by_endpoint

    def request(self, endpoint: str, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET `path`; the parsed answer (a dict with code 0), or a typed `ZohoError`."""
        query = {"organization_id": self.organization_id, **(params or {})}
        refreshed: list[str] = []  # the token refused once in this request, if any

        def attempt() -> dict[str, Any] | TryAgain:
            verdict = self._send(endpoint, path, query)
            while isinstance(verdict, Unauthorized):  # a refresh and retry is not a retry attempt
                if refreshed:
                    raise ZohoAuthError(endpoint, "Zoho rejected a freshly refreshed access token (HTTP 401)")
                refreshed.append(self.tokens.refresh(rejected=self._last_token))
                verdict = self._send(endpoint, path, query)
            return self._settle(endpoint, verdict)

        outcome = self.retrying.run(attempt)
        if not isinstance(outcome, TryAgain):
            return outcome
        attempts = self.retrying.attempts
        if outcome.problem == "malformed JSON":
            raise ZohoProtocolError(endpoint, f"malformed JSON in {attempts} answers")
        if outcome.last:
            raise ZohoUnavailable(endpoint, f"{outcome.problem} at {self._origin()}: {self._what_to_check()}")
        error = ZohoRateLimited if outcome.rate_limited else ZohoUnavailable
        raise error(endpoint, f"gave up after {attempts} attempts ({outcome.problem}) at {self._origin()}")

    def _origin(self) -> str:
        """Where the calls go (scheme, host and port; never a path or a parameter)."""
        parts = urlsplit(api_root(self.settings, self.data_center, self.tokens.api_domain))
        return f"{parts.scheme}://{parts.netloc}"

    def _what_to_check(self) -> str:
        if self.settings.zoho_api_base_url:
            return "nothing listens there: check ZOHO_API_BASE_URL (is the emulator running?)"
        return f"nothing listens there: check the network's way out to Zoho's {self.data_center} data center"

    def _send(self, endpoint: str, path: str, query: dict[str, Any]) -> Verdict:
        """One HTTP request, if the data center's breaker lets it go, in the organization's turn, counted
        against the budget, at the API host the token came with, within the time left; the breaker
        hears how it went."""
        admission = self.breaker.admit(endpoint)
        wait = self.budget.reserve(endpoint)
        self._last_token = token = self.tokens.get()
        url = f"{api_root(self.settings, self.data_center, self.tokens.api_domain)}/{path}"
        if wait > 0:
            self.waited_seconds += wait
            self._sleep(wait)
        timeout = self._timeout()
        try:
            self.counter(endpoint)
            response = self.session.get(
                url, params=query, headers={"Authorization": f"Zoho-oauthtoken {token}"}, timeout=timeout
            )
            body = response.content
        except _NETWORK_ERRORS as exc:
            refused = _refused(exc)
            verdict: Verdict = TryAgain("connection refused" if refused else type(exc).__name__, unavailable=True,
                                        last=refused)  # fmt: skip
        else:
            quota = quota_from_headers(response.headers)
            if quota is not None:
                self.budget.observe(quota)
            verdict = classify(endpoint, response.status_code, body, response.headers)
        if isinstance(verdict, TryAgain) and verdict.unavailable:
            self.breaker.failed()
        elif admission != "clean":
            self.breaker.answered()
        return verdict

    def _timeout(self) -> tuple[float, float]:
        """(connect, read) seconds: the settings', cut to the time the step has left; raises `OutOfTime`
        when not even a short call fits (the step saves its place and answers hasMore)."""
        connect, read = self.settings.zoho_connect_timeout_seconds, self.settings.zoho_read_timeout_seconds
        left = self.deadline()
        if left is None:
            return connect, read
        if left < MIN_CALL_SECONDS:
            raise OutOfTime("no time left for another Zoho call")
        connect = min(connect, left / 2)
        return connect, max(1.0, min(read, left - connect))

    def _settle(self, endpoint: str, verdict: Verdict) -> dict[str, Any] | TryAgain:
        if isinstance(verdict, Success):
            return verdict.payload
        if isinstance(verdict, Failure):
            raise verdict.error
        if isinstance(verdict, DailyLimitReached):
            self.budget.mark_spent()
            raise DailyBudgetReached(endpoint, "Zoho reports the organization's daily API limit is reached")
        assert isinstance(verdict, TryAgain)
        return verdict

    # ------------------------------------------------------------------------------- answers

    def _page(
        self, endpoint: str, path: str, key: str, params: dict[str, Any], page: int, *, per_page: int = PER_PAGE
    ) -> Page:
        if not 1 <= per_page <= PER_PAGE or page < 1:
            raise ValueError(f"{endpoint}: page {page} of {per_page} rows is not a page Zoho serves")
        payload = self.request(endpoint, path, {**params, "page": page, "per_page": per_page})
        rows = payload.get(key)
        if not isinstance(rows, list):
            raise ZohoProtocolError(endpoint, f"answer lacks the list {key!r}")
        has_more = _has_more_page(payload.get("page_context"))
        if has_more is None:
            raise ZohoProtocolError(endpoint, "answer lacks page_context.has_more_page")
        if not rows and has_more:
            raise ZohoProtocolError(endpoint, f"page {page} is empty but has_more_page is true")
        return Page(rows=rows, page=page, has_more=has_more)

    @staticmethod
    def _since(modified_since: datetime | None) -> dict[str, Any]:
        return {"last_modified_time": format_zoho_time(modified_since)} if modified_since else {}

    def _object(self, endpoint: str, path: str, key: str) -> dict[str, Any]:
        payload = self.request(endpoint, path)
        value = payload.get(key)
        if not isinstance(value, dict):
            raise ZohoProtocolError(endpoint, f"answer lacks the object {key!r}")
        return value

    @staticmethod
    def _id(value: str) -> str:
        if not value or len(value) > 64:
            raise ValueError("a Zoho record id must be 1-64 characters")
        return quote(value, safe="")

    # ------------------------------------------------------------------------------- the API subset

    def contacts_page(self, modified_after: datetime | None, page: int = 1, per_page: int = PER_PAGE) -> Page:
        """Customers modified after `modified_after`, newest change first. Zoho's reference documents neither
        this filter nor `sort_order` for contacts: the scan stays correct when both are ignored."""
        params = {
            "contact_type": "customer",
            "filter_by": "Status.All",
            "sort_column": "last_modified_time",
            "sort_order": "D",
            **self._since(modified_after),
        }
        return self._page("contacts.list", "contacts", "contacts", params, page, per_page=per_page)

    def contacts_by_creation_page(self, page: int) -> Page:
        """One page of every customer, in creation order (the deletion reconcile walks them all)."""
        params = {
            "contact_type": "customer",
            "filter_by": "Status.All",
            "sort_column": "created_time",
            "sort_order": "A",
        }
        return self._page("contacts.list", "contacts", "contacts", params, page)

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        """One contact with all its contact persons and billing address."""
        return self._object("contacts.get", f"contacts/{self._id(contact_id)}", "contact")

    def invoices_page(self, modified_after: datetime | None, page: int = 1, per_page: int = PER_PAGE) -> Page:
        """Invoices modified after `modified_after`, oldest created first: an order edits do not change.

        Zoho cannot sort invoices by modification time; the documented `created_time` keeps each
        invoice where it is while others are edited (new ones come last).
        """
        params = {"sort_column": "created_time", "sort_order": "A", **self._since(modified_after)}
        return self._page("invoices.list", "invoices", "invoices", params, page, per_page=per_page)

    def open_invoices_page(self, page: int) -> Page:
        """One page of Zoho's unpaid invoices, in creation order (the open-invoice reconcile walks them all)."""
        params = {"filter_by": "Status.Unpaid", "sort_column": "created_time", "sort_order": "A"}
        return self._page("invoices.list", "invoices", "invoices", params, page)

    def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._object("invoices.get", f"invoices/{self._id(invoice_id)}", "invoice")

    def get_customer_payment(self, payment_id: str) -> dict[str, Any]:
        """`GET /customerpayments/{id}`: the payment with the invoices it was applied to (`invoices[].invoice_id`)."""
        return self._object("customerpayments.get", f"customerpayments/{self._id(payment_id)}", "payment")

    def get_organization(self) -> dict[str, Any]:
        return self._object("organizations.get", f"organizations/{self._id(self.organization_id)}", "organization")


def _has_more_page(context: Any) -> bool | None:
    """`page_context.has_more_page`: an object in the contacts reference, an array of one object in the
    invoices reference; both are read."""
    if isinstance(context, list) and len(context) == 1:
        context = context[0]
    if isinstance(context, dict) and isinstance(context.get("has_more_page"), bool):
        return bool(context["has_more_page"])
    return None
