"""The Zoho Books API client: spends calls carefully and survives every way the API fails.

- paces calls under the organization's rate limit (no 429s in normal operation);
- counts every call against the organization's daily budget in the database and stops before
  the budget is exceeded (`DailyBudgetReached`), so a step can end cleanly and resume tomorrow;
- 429 → backoff with jitter; 5xx, timeouts, connection errors, truncated bodies → bounded retries;
  401 → one token refresh and a retry; 404/code 1002 → `ZohoNotFound`; other 4xx → `ZohoApiError`;
  an answer that is not what the API promises → `ZohoProtocolError` naming the endpoint.

It never runs inside a database transaction: the call counter and token cache commit on their own.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from books_sync.db import Database
from books_sync.errors import (
    DailyBudgetReached,
    ZohoApiError,
    ZohoAuthError,
    ZohoNotFound,
    ZohoProtocolError,
    ZohoRateLimited,
    ZohoUnavailable,
)
from books_sync.settings import Settings, get_settings
from books_sync.storage import api_usage
from books_sync.storage.tenants import Tenant
from books_sync.zoho.auth import OAuthClient, TokenProvider, accounts_token_url, oauth_client_from_settings
from books_sync.zoho.pacing import backoff_seconds, pacer_for
from books_sync.zoho.timestamps import format_zoho_time

PER_PAGE = 200
_NOT_FOUND_CODE = 1002
_DAILY_LIMIT_CODE = 45

_local = threading.local()


def http_session() -> requests.Session:
    """One keep-alive session per thread, reused across warm Lambda invocations."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.headers["User-Agent"] = "zoho-books-sync/0.1"
        _local.session = session
    return session


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
        db: Database,
        tenant: Tenant,
        *,
        settings: Settings | None = None,
        oauth: OAuthClient | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or get_settings()
        self.db = db
        self.tenant = tenant
        self.organization_id = tenant.organization_id
        self.api_base = self.settings.zoho_api_base_url or f"https://www.zohoapis.{tenant.data_center}/books/v3"
        self.session = session or http_session()
        self._sleep = sleep
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self.calls = 0
        self.calls_by_endpoint: Counter[str] = Counter()
        self.retries = 0
        self.pacer = pacer_for(
            tenant.organization_id, self.settings.zoho_rate_limit_calls, self.settings.zoho_rate_limit_window_seconds
        )
        self.tokens = TokenProvider(
            db,
            tenant.user_id,
            token_url=accounts_token_url(self.settings, tenant.data_center),
            oauth=oauth or oauth_client_from_settings(self.settings),
            session=self.session,
            settings=self.settings,
            on_call=self._count,
            sleep=sleep,
        )

    def _count(self, endpoint: str) -> None:
        self.calls += 1
        self.calls_by_endpoint[endpoint] += 1

    def _backoff(self, attempt: int) -> None:
        self.retries += 1
        self._sleep(
            backoff_seconds(
                attempt,
                self.settings.zoho_backoff_base_seconds,
                self.settings.zoho_backoff_max_seconds,
                self._rng.random,
            )
        )

    def _reserve(self, endpoint: str) -> None:
        if api_usage.reserve_call(self.db, self.organization_id, self.tenant.daily_call_budget) is None:
            raise DailyBudgetReached(
                endpoint, f"today's budget of {self.tenant.daily_call_budget} Zoho calls for the organization is spent"
            )

    def request(self, endpoint: str, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET `path`; the parsed answer (a dict with code 0), or a typed `ZohoError`."""
        if self.db.in_transaction:
            raise RuntimeError("Zoho calls must not run inside a database transaction")
        query = {"organization_id": self.organization_id, **(params or {})}
        url = f"{self.api_base}/{path}"
        refreshed = False
        attempt = 0
        last_problem = ""
        rate_limited = False
        while attempt <= self.settings.zoho_max_retries:
            self._reserve(endpoint)
            token = self.tokens.get()
            self.pacer.acquire()
            try:
                self._count(endpoint)
                response = self.session.get(
                    url,
                    params=query,
                    headers={"Authorization": f"Zoho-oauthtoken {token}"},
                    timeout=(self.settings.zoho_connect_timeout_seconds, self.settings.zoho_read_timeout_seconds),
                )
                body = response.content
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                last_problem, rate_limited = type(exc).__name__, False
                self.pacer.release()
                self._backoff(attempt)
                attempt += 1
                continue
            self.pacer.release()
            status = response.status_code
            if status == 401:
                if refreshed:
                    raise ZohoAuthError(endpoint, "Zoho rejected a freshly refreshed access token (HTTP 401)")
                self.tokens.refresh(rejected=token)
                refreshed = True
                continue  # a refresh and retry does not count as a retry attempt
            payload = self._json(response, body)
            if status == 429:
                code = payload.get("code") if isinstance(payload, dict) else None
                if code == _DAILY_LIMIT_CODE:
                    api_usage.mark_spent(self.db, self.organization_id, self.tenant.daily_call_budget)
                    raise DailyBudgetReached(endpoint, "Zoho reports the organization's daily API limit is reached")
                last_problem, rate_limited = f"HTTP 429 (code {code})", True
                self._backoff(attempt)
                attempt += 1
                continue
            if status >= 500:
                last_problem, rate_limited = f"HTTP {status}", False
                self._backoff(attempt)
                attempt += 1
                continue
            if payload is None:
                if status == 200:  # truncated or not JSON: usually a proxy hiccup, worth a retry
                    last_problem, rate_limited = "malformed JSON", False
                    self._backoff(attempt)
                    attempt += 1
                    continue
                raise ZohoApiError(endpoint, status, None, "answer is not JSON")
            if not isinstance(payload, dict):
                raise ZohoProtocolError(endpoint, f"expected a JSON object, got {type(payload).__name__}")
            code = payload.get("code")
            message = str(payload.get("message", ""))
            if status == 404 or code == _NOT_FOUND_CODE:
                raise ZohoNotFound(endpoint, f"not found (code {code})")
            if status >= 400:
                raise ZohoApiError(endpoint, status, code, message)
            if code != 0:
                raise ZohoProtocolError(endpoint, f"HTTP {status} with code {code!r}: {message[:200]}")
            return payload
        if last_problem == "malformed JSON":
            raise ZohoProtocolError(endpoint, f"malformed JSON in {self.settings.zoho_max_retries + 1} answers")
        error = ZohoRateLimited if rate_limited else ZohoUnavailable
        raise error(endpoint, f"gave up after {self.settings.zoho_max_retries + 1} attempts ({last_problem})")

    @staticmethod
    def _json(response: requests.Response, body: bytes) -> Any:
        try:
            return response.json() if body else None
        except ValueError:
            return None

    # ------------------------------------------------------------------------------- pages

    def _page(self, endpoint: str, path: str, key: str, params: dict[str, Any], page: int) -> Page:
        payload = self.request(endpoint, path, {**params, "page": page, "per_page": PER_PAGE})
        rows = payload.get(key)
        if not isinstance(rows, list):
            raise ZohoProtocolError(endpoint, f"answer lacks the list {key!r}")
        context = payload.get("page_context")
        if not isinstance(context, dict) or not isinstance(context.get("has_more_page"), bool):
            raise ZohoProtocolError(endpoint, "answer lacks page_context.has_more_page")
        if not rows and context["has_more_page"]:
            raise ZohoProtocolError(endpoint, f"page {page} is empty but has_more_page is true")
        return Page(rows=rows, page=page, has_more=context["has_more_page"])

    def _pages(self, endpoint: str, path: str, key: str, params: dict[str, Any]) -> Iterator[Page]:
        page = 1
        while True:
            result = self._page(endpoint, path, key, params, page)
            yield result
            if not result.has_more:
                return
            page += 1

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

    def contacts_page(self, modified_since: datetime | None, page: int = 1) -> Page:
        """Customers modified at or after `modified_since`, oldest change first."""
        params = {
            "contact_type": "customer",
            "filter_by": "Status.All",
            "sort_column": "last_modified_time",
            "sort_order": "A",
            **self._since(modified_since),
        }
        return self._page("contacts.list", "contacts", "contacts", params, page)

    def iter_contact_pages(self, modified_since: datetime | None = None) -> Iterator[Page]:
        params = {
            "contact_type": "customer",
            "filter_by": "Status.All",
            "sort_column": "last_modified_time",
            "sort_order": "A",
            **self._since(modified_since),
        }
        return self._pages("contacts.list", "contacts", "contacts", params)

    def contact_ids_page(self, page: int) -> Page:
        """One page of every customer's id, in creation order (for the deletion reconcile)."""
        params = {
            "contact_type": "customer",
            "filter_by": "Status.All",
            "sort_column": "created_time",
            "sort_order": "A",
        }
        return _ids(self._page("contacts.list", "contacts", "contacts", params, page), "contact_id")

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        """One contact with all its contact persons and billing address."""
        return self._object("contacts.get", f"contacts/{self._id(contact_id)}", "contact")

    def invoices_page(self, modified_since: datetime | None, page: int = 1) -> Page:
        """Invoices modified at or after `modified_since`, oldest change first."""
        params = {"sort_column": "last_modified_time", "sort_order": "A", **self._since(modified_since)}
        return self._page("invoices.list", "invoices", "invoices", params, page)

    def iter_invoice_pages(self, modified_since: datetime | None = None) -> Iterator[Page]:
        params = {"sort_column": "last_modified_time", "sort_order": "A", **self._since(modified_since)}
        return self._pages("invoices.list", "invoices", "invoices", params)

    def open_invoice_ids_page(self, page: int) -> Page:
        """One page of the ids of Zoho's unpaid invoices (for the open-invoice reconcile)."""
        params = {"filter_by": "Status.Unpaid", "sort_column": "created_time", "sort_order": "A"}
        return _ids(self._page("invoices.list", "invoices", "invoices", params, page), "invoice_id")

    def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._object("invoices.get", f"invoices/{self._id(invoice_id)}", "invoice")

    def get_organization(self) -> dict[str, Any]:
        return self._object("organizations.get", f"organizations/{self._id(self.organization_id)}", "organization")


def _ids(page: Page, key: str) -> Page:
    """The same page with each row reduced to its id (rows without one are dropped)."""
    ids = [str(row[key]) for row in page.rows if isinstance(row, dict) and row.get(key) not in (None, "")]
    return Page(rows=ids, page=page.page, has_more=page.has_more)
