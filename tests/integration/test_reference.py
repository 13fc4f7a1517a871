"""Nothing undocumented relied on: every request the client sends to an organization of the `documented`
profile is checked by the emulator against Zoho's reference (devtools/zoho_emulator/reference, with
openapi-core); only the undocumented parameters the README names may pass."""

from __future__ import annotations

import re
from pathlib import Path

from books_sync.db import Database
from tests.support import MakeOrg, call_step
from zoho_emulator.control import EmulatorControl
from zoho_emulator.reference import UNDOCUMENTED, problems
from zoho_sync_cli.pipeline import run_tenant

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_request_of_a_whole_run_is_what_zohos_reference_documents(
    db: Database, make_org: MakeOrg, zoho: EmulatorControl
) -> None:
    """A first sync over several windows, details, a held-back invoice, both reconciles with their checks by
    id, a full resync and the confirm phase: every endpoint the client uses, each request checked."""
    org = make_org(customers=260, invoices=700, seed=41, profile="documented", open_share=0.5)
    zoho.reset_stats()
    assert run_tenant(org.user_id).error is None
    deleted = next(i for i in org.control.snapshot(org.organization_id)["invoices"] if i["balance"] > 0)["invoice_id"]
    org.control.delete_invoice(org.organization_id, deleted)
    db.run("UPDATE sync_metadata SET last_customer_reconcile_at = now() - interval '8 days', "
           "last_invoice_reconcile_at = now() - interval '2 days' WHERE user_id = :u", u=org.user_id)  # fmt: skip
    assert run_tenant(org.user_id).error is None
    assert run_tenant(org.user_id, full_resync=True).error is None
    call_step("invoice-sync", org)
    stats = zoho.stats()
    assert zoho.off_reference(org.organization_id) == []
    used = set(stats["by_org"][org.organization_id])
    assert used >= {"contacts.list", "contacts.get", "invoices.list", "invoices.get", "organizations.get"}


def test_an_undocumented_parameter_or_value_is_refused_and_remembered() -> None:
    assert problems("/contacts", {"organization_id": "1", "sort_order": "D", "last_modified_time": "x"}) == []
    assert problems("/invoices", {"organization_id": "1", "last_modified_time": "2026-01-01T00:00:00+0000"}) == []
    said = problems("/invoices", {"organization_id": "1", "contact_type": "customer", "per_page": "201"})
    assert said[0] == "contact_type: not a parameter Zoho's reference documents for GET /invoices"
    assert "per_page (201 is greater than the maximum of 200)" in said[1]
    assert problems("/contacts", {"page": "1"}) == ["Missing required query parameter: organization_id"]


def test_the_readme_names_each_undocumented_parameter_the_client_sends() -> None:
    """The README's table of what Zoho does not document: exactly the list the emulator lets pass."""
    readme = README.read_text(encoding="utf-8")
    section = readme[readme.index("<!-- undocumented -->") : readme.index("<!-- /undocumented -->")]
    named = {(path, name) for path, name in re.findall(r"^\| `GET (/\w+)` \| `(\w+)`", section, re.MULTILINE)}
    assert named == {(path, name) for path, names in UNDOCUMENTED.items() for name in names}
