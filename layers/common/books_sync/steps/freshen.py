"""Freshen: confirm against Zoho, minutes before they go out, the tenants whose reminders are about to be
wanted, so that a sender is never handed a reminder on data older than its tenant's freshness.

It runs on its own schedule (every `FRESHEN_INTERVAL_MINUTES`). First, for every tenant, a reminder that
waited past its grace unconfirmed ends `missed` with the reason it waited. Then, most urgent first, each
active tenant with a reminder wanted before the next freshen whose confirmation would be too old by then
gets one run of its steps: the customer pass, the invoice pass (with the details it needs and the by-id
reads of the invoices to confirm: a deletion shows in no list), and the reminders step, which applies
what they found and records the confirmation. Each tenant runs under its lease (one an execution holds is
skipped: that execution confirms it), the organization's shared pace and its daily budget. A quiet tenant
costs a contacts page, an invoices page and one more call (its short unpaid list, or one invoice by id).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from aws_lambda_powertools import Logger

from books_sync.db import Database
from books_sync.errors import DatabaseUnavailable, OAuthClientRejected, ZohoAuthError
from books_sync.settings import Settings
from books_sync.steps.customers import CustomerSync
from books_sync.steps.invoices import ConfirmingInvoiceSync
from books_sync.steps.reminders import refresh_reminders
from books_sync.storage import leases, reminders, step_runs, tenants, webhooks
from books_sync.storage.tenants import Tenant
from books_sync.sync.frame import SyncStep, run_sync_step
from books_sync.sync.time_budget import TimeBudget
from books_sync.webhooks.apply import WebhookTurn
from books_sync.webhooks.worker import turns

logger = Logger(service="freshen", child=True)

STEP = "freshen"  # its row in step_runs (the steps' own rows stay the executions')
LEASE_SECONDS = 900.0  # one tenant's run; given back as soon as it ends
REPORTED = 100  # tenants listed in a summary; the counts say how many there are
SWEEP_SECONDS = 60.0  # at most this much of a freshen reads webhook records no worker read

Outcome = Literal["confirmed", "unconfirmed", "skipped", "deferred", "failed"]


@dataclass
class TenantFreshen:
    """One tenant's freshen: whether its data is now confirmed, and what it cost."""

    user_id: str
    outcome: Outcome = "unconfirmed"
    api_calls: int = 0
    cancelled: int = 0
    error: str | None = None

    def to_output(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "outcome": self.outcome,
            "apiCalls": self.api_calls,
            "cancelled": self.cancelled,
            "error": self.error,
        }


@dataclass
class FreshenSummary:
    tenants: list[TenantFreshen] = field(default_factory=list)
    missed: dict[str, int] = field(default_factory=dict)  # reminders given up unconfirmed, by reason
    not_reached: int = 0  # tenants left for the next freshen (time ran out)
    webhook_records_read: int = 0  # records webhooks named that no worker had read (the sweep)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for tenant in self.tenants if tenant.outcome == outcome)

    def to_output(self) -> dict[str, Any]:
        return {
            "tenants": [tenant.to_output() for tenant in self.tenants[:REPORTED]],
            "missed": dict(self.missed),
            "counts": {
                "tenants": len(self.tenants),
                **{outcome: self.count(outcome) for outcome in ("confirmed", "unconfirmed", "skipped", "failed")},
                "deferred": self.count("deferred"),
                "notReached": self.not_reached,
                "missed": sum(self.missed.values()),
                "apiCalls": sum(tenant.api_calls for tenant in self.tenants),
                "webhookRecordsRead": self.webhook_records_read,
            },
        }

    def metrics(self) -> dict[str, int]:
        return {
            "TenantsConfirmed": self.count("confirmed"),
            "TenantsUnconfirmed": self.count("unconfirmed") + self.count("deferred") + self.count("failed"),
            "RemindersMissed": sum(self.missed.values()),
            "ZohoApiCalls": sum(tenant.api_calls for tenant in self.tenants),
        }


def freshen(
    db: Database, settings: Settings, budget: TimeBudget, *, user_ids: list[str] | None = None
) -> FreshenSummary:
    """One freshen over every tenant that needs it (or the ones named), most urgent first."""
    summary = FreshenSummary()
    with db.transaction():
        summary.missed = reminders.give_up_unconfirmed(db)
    if summary.missed:
        logger.warning(
            "reminders given up: not confirmed by Zoho within their grace", extra={"byReason": summary.missed}
        )
    summary.webhook_records_read = _sweep_webhooks(db, settings, budget, user_ids)
    wanted = reminders.tenants_to_freshen(db, lookahead=settings.freshen_lookahead, user_ids=user_ids)
    for index, user_id in enumerate(wanted):
        if budget.should_stop():
            summary.not_reached = len(wanted) - index
            break
        tenant = tenants.get(db, user_id)
        if tenant is not None:
            summary.tenants.append(freshen_tenant(db, tenant, settings, budget))
    logger.info("freshen done", extra={"counts": summary.to_output()["counts"]})
    return summary


def _sweep_webhooks(db: Database, settings: Settings, budget: TimeBudget, user_ids: list[str] | None) -> int:
    """Records webhooks named that no worker read (a message lost or dead-lettered, a tenant busy or inactive
    then, Zoho down), read now that their wait is over: nothing a webhook said is left behind."""
    read, started = 0, time.monotonic()
    for user_id in webhooks.left_unread(db, limit=REPORTED):
        if time.monotonic() - started > SWEEP_SECONDS or budget.should_stop():
            break  # the freshen's own work comes first; the next freshen sweeps on
        tenant = tenants.get(db, user_id)
        if (user_ids is not None and user_id not in user_ids) or tenant is None or tenant.status != "active":
            continue
        done: list[WebhookTurn] = []
        turns(db, tenant, settings, budget, done, busy_tries=0)  # busy (an execution): the next sweep
        read += sum(turn.read for turn in done)
    if read:
        logger.info("webhook records no worker had read, read now", extra={"count": read})
    return read


def freshen_tenant(db: Database, tenant: Tenant, settings: Settings, budget: TimeBudget) -> TenantFreshen:
    """One run of the tenant's three steps under its lease; recorded in `step_runs` as `freshen`."""
    result = TenantFreshen(tenant.user_id)
    holder = f"{STEP}:{uuid.uuid4()}"
    if leases.take(db, tenant.user_id, holder, STEP, LEASE_SECONDS) is not None:
        result.outcome = "skipped"  # an execution (or a run) holds it, and confirms it
        return result
    step_runs.started(db, tenant.user_id, STEP, holder)
    try:
        _run_steps(db, tenant, settings, budget, result)
    except (DatabaseUnavailable, OAuthClientRejected):
        raise  # everyone's trouble: the freshen stops
    except Exception as exc:  # noqa: BLE001 - this tenant's trouble; the others go on
        result.outcome, result.error = "failed", f"{type(exc).__name__}: {exc}"[:300]
        level = logger.warning if isinstance(exc, ZohoAuthError) else logger.exception
        level("freshen failed for a tenant", extra={"userId": tenant.user_id, "error": type(exc).__name__})
    finally:
        leases.give_back(db, tenant.user_id, holder)
    step_runs.finished(db, tenant.user_id, STEP, {**result.to_output(), "status": _status(result)}, result.error)
    return result


def _run_steps(db: Database, tenant: Tenant, settings: Settings, budget: TimeBudget, result: TenantFreshen) -> None:
    finished = True
    steps: tuple[type[SyncStep[Any]], ...] = (CustomerSync, ConfirmingInvoiceSync)
    for step in steps:
        summary = run_sync_step(step, db, tenant, settings, full_resync=False, budget=budget)
        result.api_calls += summary.api_calls
        if summary.status == "deferred":
            result.outcome = "deferred"
        if summary.status != "ok" or summary.has_more:
            finished = False
            break
    applied = refresh_reminders(db, tenant)  # what the passes found (a payment, a new phone) applies at once
    result.cancelled = applied.cancelled
    if finished:
        result.outcome = "confirmed"


def _status(result: TenantFreshen) -> str:
    """The `step_runs` status: deferred and failed as the steps say them; the rest ran (ok)."""
    return result.outcome if result.outcome in ("deferred", "failed", "skipped") else "ok"
