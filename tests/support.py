"""Helpers the tests share: the emulator-backed tenant, calling the steps' real handlers, and the
checks the fault tests converge on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tenant_batch.handler import lambda_handler as tenant_batch_handler

from books_sync.db import Database, connect, parse_database_url
from books_sync.migrator import migrate
from books_sync.storage import tenants as tenant_store
from books_sync.storage.tenants import Tenant
from customer_sync.handler import lambda_handler as customer_sync_handler
from invoice_sync.handler import lambda_handler as invoice_sync_handler
from reminders.handler import lambda_handler as reminders_handler
from tenants.failure_handler import lambda_handler as record_failure_handler
from tenants.handler import lambda_handler as tenants_handler
from tenants.rest_handler import lambda_handler as rest_tenants_handler
from tenants.summary_handler import lambda_handler as summarize_handler
from zoho_emulator.control import EmulatorControl
from zoho_sync_cli.lambda_context import LocalLambdaContext
from zoho_sync_cli.pipeline import TenantRun, run_tenant

HANDLERS: dict[str, Callable[[Any, Any], dict[str, Any]]] = {
    "customer-sync": customer_sync_handler,
    "invoice-sync": invoice_sync_handler,
    "reminders": reminders_handler,
    "tenants": tenants_handler,
    "tenant-batch": tenant_batch_handler,
    "rest-tenants": rest_tenants_handler,
    "summarize": summarize_handler,
    "record-failure": record_failure_handler,
}


@dataclass
class Org:
    """An emulator organization connected to a tenant in the test database."""

    user_id: str
    organization_id: str
    refresh_token: str
    control: EmulatorControl

    def tenant(self, db: Database) -> Tenant:
        return tenant_store.get_active(db, self.user_id)


MakeOrg = Callable[..., Org]


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> float:
    """How long until `check` holds (fails after `seconds`)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def call_step(step: str, org: Org, *, context: Any = None, **event: Any) -> dict[str, Any]:
    """One call of a step's real Lambda handler for the tenant: `{"userId": ..., **event}` → its summary."""
    return dict(HANDLERS[step]({"userId": org.user_id, **event}, context or LocalLambdaContext(step)))


def run_until_success(user_id: str, attempts: int = 30) -> list[TenantRun]:
    """Run the pipeline for the tenant again while a step reports failure, as the next schedule would."""
    runs = [run_tenant(user_id)]
    while runs[-1].error is not None:
        assert len(runs) < attempts, f"no success after {attempts} runs: {runs[-1].error}"
        runs.append(run_tenant(user_id))
    return runs


def assert_cursors_behind_data(db: Database, user_id: str) -> None:
    """Each step's cursor is set and no later than the newest row it committed."""
    row = db.one(
        "SELECT m.customer_cursor <= (SELECT max(zoho_last_modified_at) FROM customers_cache WHERE user_id = :u) "
        "AS customers_ok, m.invoice_cursor <= (SELECT max(zoho_last_modified_at) FROM invoices_cache "
        "WHERE user_id = :u) AS invoices_ok FROM sync_metadata AS m WHERE m.user_id = :u",
        u=user_id,
    )
    assert row is not None and row["customers_ok"] and row["invoices_ok"]


def legacy_local_v1(key: bytes, tenant: str, plaintext: str, nonce: bytes = b"\x07" * 16) -> str:
    """A `local:v1:` value as the version before migration 0018 wrote it (the construction in the
    legacy module's docstring, built here by hand so a drift in that module shows)."""

    def prf(k: bytes, message: bytes) -> bytes:
        return hmac.new(k, message, hashlib.sha256).digest()

    enc, mac = prf(key, b"zoho-sync token v1 encryption"), prf(key, b"zoho-sync token v1 authentication")
    print_ = prf(key, b"zoho-sync token v1 fingerprint")[:8].hex()
    raw = plaintext.encode()
    stream = b"".join(prf(enc, nonce + i.to_bytes(4, "big")) for i in range(len(raw) // 32 + 1))
    ciphertext = bytes(p ^ k for p, k in zip(raw, stream, strict=False))
    who = tenant.encode()
    tag = prf(mac, f"local:v1:{print_}".encode() + nonce + len(who).to_bytes(4, "big") + who + ciphertext)
    return f"local:v1:{print_}:" + base64.b64encode(nonce + ciphertext + tag).decode()


@contextmanager
def database_at(url: str, version: int) -> Iterator[Database]:
    """The database at `url` migrated up to `version` only (an older schema), as the migrator connects."""
    db = connect(parse_database_url(url), purpose="migrate")
    try:
        migrate(db, target=version)
        yield db
    finally:
        db.close()


def work_listed(selection: dict[str, Any], name: str = "") -> list[str]:
    """The tenant ids ListTenants' output put in its work lists (S3): one list (`quiet`, `heavy`), or both."""
    from books_sync import work_list

    lists = selection["workLists"]
    return [user_id for key in ([name] if name else ["quiet", "heavy"])
            for user_id in work_list.read(lists[key]["bucket"], lists[key]["key"])]  # fmt: skip
