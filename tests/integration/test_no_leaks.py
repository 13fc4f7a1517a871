"""Secrets and personal data stay out of logs and error messages (guide rule 5).

The whole pipeline runs against the emulator with faults that make the client log and fail
(401s, a revoked refresh token, malformed answers), with stdout/stderr and the logging records
captured; none of the tokens, client secret, emails or phone numbers may appear in them.
"""

from __future__ import annotations

import logging
import re

import pytest

from books_sync.db import Database
from books_sync.storage import tenants as tenant_store
from tests.support import MakeOrg, Org
from zoho_sync_cli.pipeline import run_tenant


def secrets_of(db: Database, org: Org) -> set[str]:
    values = {org.refresh_token}
    token = tenant_store.read_access_token(db, org.user_id)  # stored encrypted: the token itself, decrypted
    if token:
        values.add(token.token)
    for contact in org.control.snapshot(org.organization_id)["contacts"]:
        people = [contact, *[p for p in contact.get("contact_persons") or [] if isinstance(p, dict)]]
        for person in people:
            for key in ("email", "phone", "mobile"):
                value = person.get(key)
                if not isinstance(value, str):
                    continue
                if key == "email" or len(re.sub(r"\D", "", value)) >= 6:
                    values.add(value)
    for phone in db.run("SELECT primary_phone FROM customers_cache WHERE primary_phone IS NOT NULL"):
        values.add(phone[0])
    return {v for v in values if v and len(v) >= 6}


def test_pipeline_logs_no_tokens_emails_or_phones(
    db: Database, make_org: MakeOrg, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    healthy = make_org(customers=40, invoices=80, seed=31)
    revoked = make_org(customers=5, invoices=5, seed=32)
    revoked.control.revoke_refresh_token(revoked.refresh_token)
    healthy.control.inject("contacts.list", "401", count=1, organization_id=healthy.organization_id)
    healthy.control.inject("contacts.get", "malformed", count=2, organization_id=healthy.organization_id)
    healthy.control.inject("invoices.list", "500", count=1, organization_id=healthy.organization_id)
    ok = run_tenant(healthy.user_id)
    failed = run_tenant(revoked.user_id)
    assert ok.error is None
    assert failed.error is not None and "ZohoAuthError" in failed.error
    captured = capfd.readouterr()
    text = "\n".join([captured.out, captured.err, failed.error, *(r.getMessage() for r in caplog.records)])
    assert "customer sync step done" in text  # the logs were captured
    secrets = secrets_of(db, healthy) | secrets_of(db, revoked)
    assert len(secrets) > 50  # tokens, emails and phones, raw and normalized
    leaked = sorted(v for v in secrets if v in text)
    assert leaked == []
    assert "emulator-secret" not in text
