"""The worker's job for one tenant: read from Zoho, by id, each record its webhooks named, and apply it.

Nothing from a webhook's body is used: an invoice is read with `GET /invoices/{id}` and applied as a
list page would be (its customer fetched if new; a 404 marks it deleted; Zoho's answer marks it seen,
which is what the hand-out rule counts as confirmed); a contact with `GET /contacts/{id}`, as a detail
(phones, persons, opt-outs). Then the reminders rules run for the tenant, so a payment cancels its
reminders at once. It works under the tenant's lease (a running step or freshen has it: the records wait
for the next try, and that run reads them anyway), the shared pace, budget and breaker of every call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from aws_lambda_powertools import Logger

from books_sync.db import Database
from books_sync.errors import OAuthClientRejected, OutOfTime, ZohoDeferral, ZohoError, ZohoNotFound
from books_sync.settings import Settings
from books_sync.steps.customers import CustomerSync
from books_sync.steps.invoices import InvoiceSync
from books_sync.steps.reminders import refresh_reminders
from books_sync.storage import leases, webhooks
from books_sync.storage.tenants import Tenant
from books_sync.sync.clients import zoho_client
from books_sync.sync.details import fetch_named
from books_sync.sync.time_budget import TimeBudget
from books_sync.zoho.client import ZohoClient

logger = Logger(service="webhooks", child=True)

HOLDER = "webhook"  # its leases' holder prefix and step name
LEASE_SECONDS = 300.0
READS_PER_TURN = 50  # records read in one turn; the rest in the next
WebhookStatus = Literal["applied", "nothing to do", "busy", "deferred", "failed"]


@dataclass
class WebhookTurn:
    user_id: str
    status: WebhookStatus = "nothing to do"
    read: int = 0  # records read from Zoho and applied (a refused read is not)
    named: int = 0  # webhooks that named them
    api_calls: int = 0
    cancelled: int = 0  # reminders cancelled by what was read
    left: int = 0  # records still to read (another turn)
    error: str | None = None
    failed_ids: list[str] = field(default_factory=list)


def apply_webhooks(
    db: Database,
    tenant: Tenant,
    settings: Settings,
    budget: TimeBudget,
    *,
    holder: str | None = None,
) -> WebhookTurn:
    """One turn for the tenant: its due records read and applied, then its reminders refreshed. `holder`: the
    lease's holder (a `zoho-sync` process names itself, so a later one frees the lease of a killed one)."""
    turn = WebhookTurn(tenant.user_id)
    holder = holder or f"{HOLDER}:{uuid.uuid4()}"
    if leases.take(db, tenant.user_id, holder, HOLDER, LEASE_SECONDS) is not None:
        turn.status = "busy"
        return turn
    try:
        named = webhooks.due(db, tenant.user_id, READS_PER_TURN + 1)
        turn.left, named = max(len(named) - READS_PER_TURN, 0), named[:READS_PER_TURN]
        if named:
            _Reader(db, tenant, settings, budget).apply(named, turn, webhooks.database_now(db))
    finally:
        leases.give_back(db, tenant.user_id, holder)
    return turn


@dataclass
class _Reader:
    db: Database
    tenant: Tenant
    settings: Settings
    budget: TimeBudget

    def apply(self, named: list[webhooks.Named], turn: WebhookTurn, read_at: datetime) -> None:
        db, user_id = self.db, self.tenant.user_id
        client = zoho_client(db, self.tenant, self.settings, deadline=self.budget.seconds_left)
        try:
            unanswered = self._read(client, named, read_at)
        except OAuthClientRejected:
            raise  # ours to fix, the same for every tenant
        except (ZohoDeferral, OutOfTime) as exc:  # Zoho down, the day's calls spent, no time: no fault of theirs
            turn.status, turn.error = "deferred", f"{type(exc).__name__}: {exc}"[:300]
            return  # still to be read: the next delivery or the freshen's sweep, no attempt charged
        except ZohoError as exc:
            turn.status, turn.error = "failed", f"{type(exc).__name__}: {exc}"[:300]
            webhooks.failed(db, user_id, named, turn.error)
            return
        finally:
            turn.api_calls = client.calls
        webhooks.failed(db, user_id, [n for n in named if n.zoho_id in unanswered], "Zoho's answer was unusable")
        webhooks.applied(db, user_id, [n for n in named if n.zoho_id not in unanswered], read_at)
        turn.cancelled = refresh_reminders(db, self.tenant).cancelled
        turn.status, turn.read = "applied", len(named) - len([n for n in named if n.zoho_id in unanswered])
        turn.named = sum(n.received for n in named)
        turn.failed_ids = unanswered
        logger.info("webhooks applied", extra={"userId": user_id, "read": turn.read, "calls": turn.api_calls})

    def _read(self, client: ZohoClient, named: list[webhooks.Named], read_at: datetime) -> list[str]:
        """Contacts first (an invoice read next links to its customer as it is now), then each payment's
        invoices with the invoices named; the ids not answered."""
        step_of = (self.db, client, self.tenant, self.settings, self.budget)
        contacts = [n.zoho_id for n in named if n.kind == "contact"]
        unanswered = fetch_named(CustomerSync(*step_of), contacts, logger).failed_ids if contacts else []
        paid = {p: _paid_invoices(client, p) for p in [n.zoho_id for n in named if n.kind == "payment"]}
        invoices = [n.zoho_id for n in named if n.kind == "invoice"]
        invoices += [i for ids in paid.values() for i in ids or [] if i not in invoices]
        unanswered += InvoiceSync(*step_of).read_by_id(invoices, read_at) if invoices else []
        return unanswered + [p for p, ids in paid.items() if ids is None or set(ids) & set(unanswered)]


def _paid_invoices(client: ZohoClient, payment_id: str) -> list[str] | None:
    """The invoices a payment was applied to (`GET /customerpayments/{id}`); None when Zoho's answer was not
    usable. A payment deleted since (404) names none: the hourly run sees its invoice reopened."""
    try:
        applied = client.get_customer_payment(payment_id).get("invoices")
    except ZohoNotFound:
        return []
    except ZohoDeferral:
        raise  # the whole turn waits
    except ZohoError:  # refused (a grant without the payments scope: a refresh, then 401), unusable: this one only
        return None
    rows = applied if isinstance(applied, list) else []
    ids = [str(row.get("invoice_id")) for row in rows if isinstance(row, dict) and row.get("invoice_id")]
    return [i for i in ids if len(i) <= 64]
