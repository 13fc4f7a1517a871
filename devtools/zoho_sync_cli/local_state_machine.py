"""Run the real `statemachine/sync.asl.json` locally: moto's Step Functions interpreter, our handlers.

moto executes the ASL for real (Task, Choice loops, Map, Retry, Catch, intrinsic functions).
Its Lambda functions are stand-ins whose invocation is patched to call our real handlers in
this process, with a Lambda-like context; an exception becomes a Lambda function error whose
`errorType` is the exception's class name, which is what Retry/Catch match on AWS too. The work
lists go to moto's S3. moto does not run a Distributed Map's `ItemReader` or `ItemBatcher`: before
each such Map the runner adds a Task that reads the list (and cuts it into batches, as the
ItemBatcher would), and the Map iterates over what it returned (`for_moto`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from tenant_batch.handler import lambda_handler as tenant_batch_handler

from books_sync import work_list
from books_sync.settings import get_settings
from customer_sync.handler import lambda_handler as customer_sync_handler
from invoice_sync.handler import lambda_handler as invoice_sync_handler
from reminders.handler import lambda_handler as reminders_handler
from tenants.failure_handler import lambda_handler as record_failure_handler
from tenants.handler import lambda_handler as tenants_handler
from tenants.rest_handler import lambda_handler as rest_tenants_handler
from tenants.summary_handler import lambda_handler as summarize_handler
from zoho_sync_cli.lambda_context import LocalLambdaContext

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "statemachine" / "sync.asl.json"
REGION = "us-east-1"
WORK_LIST_BUCKET = "zoho-sync-local-work-lists"
Handler = Callable[[dict[str, Any], Any], Any]


def read_work_list(event: dict[str, Any], _context: Any) -> list[dict[str, Any]]:
    """What a Distributed Map's ItemReader (and ItemBatcher) would give its children (local only)."""
    items: list[dict[str, Any]] = [{"userId": user_id} for user_id in work_list.read(event["bucket"], event["key"])]
    size = event.get("batchSize")
    if not size:
        return items
    return [
        {"Items": items[start : start + int(size)], "BatchInput": event.get("batchInput", {})}
        for start in range(0, len(items), int(size))
    ]


# DefinitionSubstitutions key (as in template.yaml) → (function name, handler).
FUNCTIONS: dict[str, tuple[str, Handler]] = {
    "TenantsFunctionArn": ("zoho-sync-tenants", tenants_handler),
    "CustomerSyncFunctionArn": ("zoho-sync-customer-sync", customer_sync_handler),
    "InvoiceSyncFunctionArn": ("zoho-sync-invoice-sync", invoice_sync_handler),
    "RemindersFunctionArn": ("zoho-sync-reminders", reminders_handler),
    "SummarizeFunctionArn": ("zoho-sync-summarize", summarize_handler),
    "TenantBatchFunctionArn": ("zoho-sync-tenant-batch", tenant_batch_handler),
    "RestTenantsFunctionArn": ("zoho-sync-rest-tenants", rest_tenants_handler),
    "RecordFailureFunctionArn": ("zoho-sync-record-failure", record_failure_handler),
    "ReadWorkListFunctionArn": ("zoho-sync-read-work-list", read_work_list),  # the runner's own (for_moto)
}


def substitute(definition: str, values: dict[str, str]) -> str:
    """CloudFormation's DefinitionSubstitutions: every `${Name}` must have a value."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{DEFINITION.name}: no substitution for ${{{name}}}")
        return values[name]

    return re.sub(r"\$\{([A-Za-z0-9]+)\}", value, definition)


# Fields AWS accepts that moto's ASL parser does not know; the runner leaves them out (each only
# changes what happens after a failure no test here provokes: see the README's state machine notes).
MOTO_UNSUPPORTED = ("ToleratedFailurePercentage",)
ITEM_READER_FIELDS = ("ItemReader", "ItemBatcher", "ResultWriter")  # replaced by a reading Task (for_moto)


def for_moto(definition: str) -> str:
    """The definition as moto can run it: without the fields it cannot parse, and each Map that reads
    its items from S3 preceded by a Task (`read_work_list`) that reads them into `$.localItems`."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict) and node.get("ExecutionType") == "EXPRESS":  # moto knows STANDARD children only
            node = {**node, "ExecutionType": "STANDARD"}
        if isinstance(node, dict):
            return {key: strip(value) for key, value in node.items() if key not in MOTO_UNSUPPORTED}
        if isinstance(node, list):
            return [strip(item) for item in node]
        return node

    machine = strip(json.loads(definition))
    for name in [name for name, state in machine["States"].items() if "ItemReader" in state]:
        _read_before(machine, name)
    return json.dumps(machine)


def _read_before(machine: dict[str, Any], name: str) -> None:
    mapped = machine["States"][name]
    reader, batcher = mapped["ItemReader"]["Parameters"], mapped.get("ItemBatcher")
    parameters: dict[str, Any] = {"bucket.$": reader["Bucket.$"], "key.$": reader["Key.$"]}
    if batcher:
        parameters |= {"batchSize.$": batcher["MaxItemsPerBatchPath"], "batchInput": batcher.get("BatchInput", {})}
    read = {
        "Type": "Task",
        "Resource": "${ReadWorkListFunctionArn}",
        "Parameters": parameters,
        "ResultPath": "$.localItems",
        "Next": name,
    }
    for field_name in ITEM_READER_FIELDS:
        mapped.pop(field_name, None)
    mapped["ItemsPath"] = "$.localItems"
    text = json.dumps(machine["States"]).replace(f'"Next": "{name}"', f'"Next": "Read{name}"')
    machine["States"] = json.loads(text) | {f"Read{name}": read}
    if machine["StartAt"] == name:
        machine["StartAt"] = f"Read{name}"


@dataclass
class Execution:
    status: str  # SUCCEEDED | FAILED | ...
    output: dict[str, Any] | None  # the execution output (SUCCEEDED) or the Summarize state's output
    error: str | None
    cause: str | None
    seconds: float
    invocations: dict[str, int]
    history: list[dict[str, Any]] = field(default_factory=list)  # the execution's events, as AWS counts them

    def outcome(self, user_id: str) -> str:
        """What the execution's Summarize state says of a tenant: synced, continuing, deferred, skipped,
        needsReauth, unknown, failed (with the error), notSynced or inFlight (with why)."""
        output = self.output or {}
        for key in ("synced", "continuing", "deferred", "skipped", "needsReauth"):
            if user_id in output.get(key, []):
                return key
        if user_id in output.get("unknownUserIds", []):
            return "unknown"
        for failed in output.get("failed", []):
            if failed["userId"] == user_id:
                return f"failed: {failed['error']} in {failed['step']}"
        for item in output.get("notSynced", []):
            if item["userId"] == user_id:
                return f"notSynced: {item['status']}"
        for item in output.get("inFlight", []):
            if item["userId"] == user_id:
                return f"inFlight: {item['heldBy']}"
        return "?"


class LocalStateMachine:
    def __init__(
        self,
        *,
        timeout_seconds: float = 900.0,
        context_factory: Callable[[str], Any] | None = None,
        definition: dict[str, Any] | None = None,
    ):
        """`definition` replaces the file's (e.g. `tenant_workflow()`, what each child execution runs)."""
        self._definition = json.dumps(definition) if definition else DEFINITION.read_text(encoding="utf-8")
        self._timeout_seconds = timeout_seconds
        self._context_factory = context_factory or (
            lambda name: LocalLambdaContext(name, timeout_seconds=self._timeout_seconds)
        )
        self._client: Any = None
        self._arn = ""
        self.invocations: dict[str, int] = {}

    def _invoke(self, function: LambdaFunction, event: Any) -> tuple[str, bool, str]:
        handler = next(h for name, h in FUNCTIONS.values() if name == function.function_name)
        payload = json.loads(event) if isinstance(event, str) else event
        self.invocations[function.function_name] = self.invocations.get(function.function_name, 0) + 1
        try:
            result = handler(payload, self._context_factory(function.function_name))
            return json.dumps(result, default=str), False, ""
        except Exception as exc:  # noqa: BLE001 - a Lambda function error, as AWS reports it
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_tb(exc.__traceback__)[-3:],
            }
            return json.dumps(error), True, ""

    @contextmanager
    def running(self) -> Iterator[LocalStateMachine]:
        """moto's AWS with our four functions and the state machine created from the real definition."""
        machine = self

        def invoke(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            return machine._invoke(function, event)

        # moto logs every failed state at ERROR with its whole parse tree; the execution result says it better.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        with (
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
            mock.patch.object(LambdaFunction, "_invoke_lambda", invoke),
            mock.patch.dict(os.environ, {"WORK_LIST_BUCKET": WORK_LIST_BUCKET}),
            _fresh_settings(),
        ):
            iam = boto3.client("iam", region_name=REGION)
            role = iam.create_role(
                RoleName="zoho-sync-local",
                AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
            )["Role"]["Arn"]
            lambdas = boto3.client("lambda", region_name=REGION)
            arns = {
                key: lambdas.create_function(
                    FunctionName=name,
                    Runtime="python3.12",
                    Role=role,
                    Handler="handler.lambda_handler",
                    Code={"ZipFile": _stub_zip()},
                )["FunctionArn"]
                for key, (name, _) in FUNCTIONS.items()
            }
            boto3.client("s3", region_name=REGION).create_bucket(Bucket=WORK_LIST_BUCKET)
            self._client = boto3.client("stepfunctions", region_name=REGION)
            definition = substitute(for_moto(self._definition), arns)
            self._arn = self._client.create_state_machine(name="zoho-sync", definition=definition, roleArn=role)[
                "stateMachineArn"
            ]
            yield self

    def execute(self, execution_input: dict[str, Any], *, timeout_seconds: float = 3600.0) -> Execution:
        self.invocations = {}
        return self.wait(self.start(execution_input), timeout_seconds=timeout_seconds)

    def start(self, execution_input: dict[str, Any]) -> str:
        """Start an execution and return its ARN at once (as the schedule does); `wait` for its end."""
        return str(
            self._client.start_execution(
                stateMachineArn=self._arn, name=f"local-{uuid.uuid4().hex[:12]}", input=json.dumps(execution_input)
            )["executionArn"]
        )

    def wait(self, arn: str, *, timeout_seconds: float = 3600.0) -> Execution:
        started = time.monotonic()
        while True:
            described = self._client.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() - started > timeout_seconds:
                raise TimeoutError(f"the execution did not finish within {timeout_seconds:g} s")
            time.sleep(0.05)
        history = self._history(arn)
        output = json.loads(described["output"]) if described.get("output") else None
        if output is None:
            output = _state_output("Summarize", history)
        return Execution(
            status=described["status"],
            output=output,
            error=described.get("error"),
            cause=described.get("cause"),
            seconds=time.monotonic() - started,
            invocations=dict(self.invocations),
            history=history,
        )

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        page = self._client.get_execution_history(executionArn=execution_arn, maxResults=1000)
        events += page["events"]
        while page.get("nextToken"):
            page = self._client.get_execution_history(
                executionArn=execution_arn, maxResults=1000, nextToken=page["nextToken"]
            )
            events += page["events"]
        return events


@contextmanager
def _fresh_settings() -> Iterator[None]:
    """Settings and the S3 client read again on entry and exit (the bucket is moto's only inside)."""
    get_settings.cache_clear()
    work_list.reset()
    try:
        yield
    finally:
        get_settings.cache_clear()
        work_list.reset()


def _state_output(state: str, history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A state's output from the execution history (a failed execution has no output of its own)."""
    for event in reversed(history):
        details = event.get("stateExitedEventDetails")
        if details and details.get("name") == state:
            return dict(json.loads(details["output"]))
    return None


def tenant_workflow() -> dict[str, Any]:
    """The Map's item processor as a state machine of its own: what each tenant's child execution runs."""
    processor = dict(json.loads(DEFINITION.read_text(encoding="utf-8"))["States"]["HeavyTenants"]["ItemProcessor"])
    processor.pop("ProcessorConfig")
    return processor


def _stub_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "handler.py", "def lambda_handler(event, context):\n    raise RuntimeError('dispatched in process')\n"
        )
    return buffer.getvalue()
