"""What one more tenant costs an execution, against Step Functions' limits (256 KB per payload,
25,000 history events per execution), measured on the real definition in moto.

The parent execution runs each tenant as a child execution of a Distributed Map, so a tenant adds
no event to the parent's history and only its id (and an empty result) to the parent's payloads.
moto runs the Map's item processor in process and lists no child executions; a child's history is
measured by running the item processor as a state machine of its own, which is what AWS starts per
tenant. Run with `-s` to see the figures.
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
    """The largest input or output any state of the execution handled, in bytes."""
    sizes = [
        len(value.encode())
        for event in history
        for details in event.values()
        if isinstance(details, dict)
        for key, value in details.items()
        if key in ("input", "output", "parameters") and isinstance(value, str)
    ]
    return max(sizes, default=0)


def test_a_tenant_adds_no_event_and_only_its_id_to_the_parent_execution(db: Database, make_org: MakeOrg) -> None:
    orgs = [make_org(customers=2, invoices=2, seed=s) for s in range(9)]
    with LocalStateMachine().running() as machine:
        one = machine.execute({"userIds": [orgs[0].user_id]})
        nine = machine.execute({"userIds": [org.user_id for org in orgs]})
    assert one.status == nine.status == "SUCCEEDED", nine.cause
    assert nine.output is not None and nine.output["counts"]["synced"] == len(orgs)
    events_per_tenant = (len(nine.history) - len(one.history)) / (len(orgs) - 1)
    bytes_per_tenant = (largest_payload(nine.history) - largest_payload(one.history)) / (len(orgs) - 1)
    id_length = len(orgs[0].user_id)
    fits = (PAYLOAD_LIMIT - largest_payload(one.history)) / bytes_per_tenant
    print(
        f"\nparent execution: {len(one.history)} events for 1 tenant, {len(nine.history)} for {len(orgs)}; "
        f"{events_per_tenant:g} events and {bytes_per_tenant:.1f} bytes per tenant ({id_length}-character ids); "
        f"largest payload {largest_payload(nine.history)} bytes; about {fits:,.0f} tenants fit in 256 KB"
    )
    assert events_per_tenant == 0
    assert bytes_per_tenant <= id_length + 12  # the id with its quotes and comma, and an empty result ({})
    assert fits >= 5_000  # with these ids; the README gives the arithmetic for longer ones


def child_execution(machine: LocalStateMachine, user_id: str, max_rounds: int = 8) -> Execution:
    start = {"customerRounds": {"n": 0}, "invoiceRounds": {"n": 0}}
    child_input = {"userId": user_id, "fullResync": False, "executionId": "child", "maxRounds": max_rounds, **start}
    return machine.execute(child_input)


def test_a_tenants_child_execution_stays_small(db: Database, make_org: MakeOrg) -> None:
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
