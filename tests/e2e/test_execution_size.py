"""What one more tenant costs an execution, against Step Functions' limits (256 KB per payload,
25,000 history events per execution), measured on the real definition in moto.

The parent execution reads its tenants from S3 work lists (ItemReader) and runs them as child
executions of Distributed Maps whose results it does not keep (ResultPath null), so a tenant adds no
event to the parent's history and nothing to its payloads. moto runs a Map's item processor in
process and lists no child executions; it does not run ItemReader either: the local runner reads the
list into `$.localItems` with a Task of its own (`for_moto`), which AWS never has, so that key and
those Tasks are left out of the measure. A child's history is measured by running the item processor
as a state machine of its own, which is what AWS starts per tenant. Run with `-s` to see the figures.
"""

from __future__ import annotations

import json
from typing import Any

from books_sync.db import Database
from tests.support import MakeOrg
from zoho_sync_cli.local_state_machine import Execution, LocalStateMachine, tenant_workflow

PAYLOAD_LIMIT = 256 * 1024
HISTORY_LIMIT = 25_000


def largest_payload(history: list[dict[str, Any]]) -> int:
    """The largest input or output any state of the execution handled, in bytes, as AWS would see it:
    without the local runner's reading Tasks and the `localItems` they add (see the module's docstring)."""
    local_reads = {
        event["id"]
        for event in history
        if str(event.get("stateEnteredEventDetails", {}).get("name", "")).startswith("Read")
    }
    sizes = [
        len(_without_local_items(value).encode())
        for event in history
        if event.get("previousEventId") not in local_reads and event["id"] not in local_reads
        for details in event.values()
        if isinstance(details, dict)
        for key, value in details.items()
        if key in ("input", "output", "parameters") and isinstance(value, str)
    ]
    return max(sizes, default=0)


def _without_local_items(payload: str) -> str:
    try:
        value = json.loads(payload)
    except ValueError:
        return payload
    if isinstance(value, dict) and "localItems" in value:
        return json.dumps({key: item for key, item in value.items() if key != "localItems"})
    return payload


def test_a_tenant_adds_no_event_and_nothing_to_the_parent_executions_payloads(
    db: Database, make_org: MakeOrg, work_lists: str
) -> None:
    """The schedule's input (`{}`: every tenant) with 1 tenant, then with 9 (an input naming tenants carries
    its own ids, at most 1,000)."""
    orgs = [make_org(customers=2, invoices=2, seed=0)]
    with LocalStateMachine().running() as machine:
        one = machine.execute({})
        orgs += [make_org(customers=2, invoices=2, seed=s) for s in range(1, 9)]
        nine = machine.execute({})
    assert one.status == nine.status == "SUCCEEDED", nine.cause
    assert nine.output is not None and nine.output["counts"]["synced"] == len(orgs)
    events_per_tenant = (len(nine.history) - len(one.history)) / (len(orgs) - 1)
    print(
        f"\nparent execution: {len(one.history)} events for 1 tenant, {len(nine.history)} for {len(orgs)}; "
        f"{events_per_tenant:g} events per tenant; largest payload {largest_payload(one.history)} bytes for 1 "
        f"tenant, {largest_payload(nine.history)} for {len(orgs)} (the report lists at most 100 ids of each kind)"
    )
    assert events_per_tenant == 0
    carrying = {name for name, payload in payloads(nine.history) if any(org.user_id in payload for org in orgs)}
    assert carrying <= REPORT_STATES, carrying  # no id travels through the state; the final report names some
    assert largest_payload(nine.history) < PAYLOAD_LIMIT / 50


REPORT_STATES = {"Summarize", "AllTenantsSynced", "Done", "TenantsFailed", "UnknownTenants", "execution"}


def payloads(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(state, payload) for every state input and output AWS would see (no local reading Task)."""
    names = {event["id"]: event.get("stateEnteredEventDetails", event.get("stateExitedEventDetails", {})).get("name")
             for event in history}  # fmt: skip
    found = []
    for event in history:
        for details in event.values():
            if isinstance(details, dict) and isinstance(details.get("input") or details.get("output"), str):
                name = str(details.get("name") or names.get(event.get("previousEventId")) or "execution")
                if not name.startswith("Read"):
                    found.append((name, _without_local_items(str(details.get("input") or details.get("output")))))
    return found


def child_execution(machine: LocalStateMachine, user_id: str, max_rounds: int = 8) -> Execution:
    start = {"customerRounds": {"n": 0}, "invoiceRounds": {"n": 0}}
    child_input = {"userId": user_id, "fullResync": False, "executionId": "child", "maxRounds": max_rounds, **start}
    return machine.execute(child_input)


def test_a_tenants_child_execution_stays_small(db: Database, make_org: MakeOrg, work_lists: str) -> None:
    org = make_org(customers=30, invoices=60)
    with LocalStateMachine(definition=tenant_workflow()).running() as machine:
        first = child_execution(machine, org.user_id)
        quiet = child_execution(machine, org.user_id)
    assert first.status == quiet.status == "SUCCEEDED"
    assert json.loads(json.dumps(quiet.output)) == {}  # the parent keeps {} per tenant
    # A round of a sync step: its Task (5 events), the round count (2) and the Choice (2).
    worst = len(quiet.history) + 2 * (8 - 1) * 9
    print(
        f"\nchild execution: {len(first.history)} events (first sync), {len(quiet.history)} (quiet run), "
        f"at most {worst} with 8 rounds of each sync step; largest payload {largest_payload(first.history)} bytes"
    )
    assert len(quiet.history) <= 30
    assert worst < HISTORY_LIMIT / 100
    assert largest_payload(first.history) < 2_000  # steps' summaries stay in step_runs, not in the state
