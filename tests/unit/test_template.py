"""What a first deploy depends on, read from the CloudFormation SAM itself produces (offline).

`template.yaml` goes through the SAM translator (the code `sam deploy` runs) with placeholder code
locations; the assertions read the resulting CloudFormation resources, so they see what AWS would
be asked to create, including the roles and the schedule SAM generates.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "sync.asl.json").read_text(encoding="utf-8"))
FUNCTIONS = (
    "TenantsFunction",
    "RestTenantsFunction",
    "TenantBatchFunction",
    "SummarizeFunction",
    "RecordFailureFunction",
    "CustomerSyncFunction",
    "InvoiceSyncFunction",
    "RemindersFunction",
    "FreshenFunction",
    "MigrateFunction",
    "WebhookReceiverFunction",
    "WebhookWorkerFunction",
)
WEBHOOK_FUNCTIONS = {"WebhookReceiverFunction", "WebhookWorkerFunction"}
VPC_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"


class _NoManagedPolicyNames:
    """The template names managed policies by ARN only: nothing to look up in IAM."""

    def load(self) -> dict[str, str]:
        return {}


@cache
def source() -> dict[str, Any]:
    return dict(yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8")))


@cache
def resources() -> dict[str, Any]:
    template = json.loads(json.dumps(source()))
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = f"s3://bucket/{name}.zip"
        if "DefinitionUri" in properties:
            properties["Definition"] = ASL
            del properties["DefinitionUri"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return dict(transform(template, {}, _NoManagedPolicyNames())["Resources"])


def of_type(kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources().items() if r["Type"] == kind}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """The role's statements, a conditional one (`Fn::If`) as when its condition holds."""
    found = [s for policy in role["Properties"].get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    return [s["Fn::If"][1] if "Fn::If" in s else s for s in found]


def role_of(function: str) -> dict[str, Any]:
    role = resources()[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    return dict(resources()[role])


def sync_schedule() -> dict[str, Any]:
    (schedule,) = [s for s in of_type("AWS::Scheduler::Schedule").values() if "freshen" not in json.dumps(s)]
    return dict(schedule)


def test_the_schedule_and_the_state_machine_are_named_after_the_stack() -> None:
    """A second stack in the account and region (samconfig has two) must not collide."""
    assert sync_schedule()["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-sync"}
    machine = resources()["SyncStateMachine"]["Properties"]
    assert machine["StateMachineName"] == {"Fn::Sub": "${AWS::StackName}-sync"}


def test_a_run_the_schedule_cannot_start_is_retried_then_kept_and_alarmed() -> None:
    target = sync_schedule()["Properties"]["Target"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 3
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}
    alarm = resources()["ScheduleDeadLettersAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "QueueName"]}


def test_each_role_reads_only_its_secrets_and_only_token_handlers_use_the_key() -> None:
    key = {"Fn::If": ["CreateTokenKey", {"Fn::GetAtt": ["TokenKey", "Arn"]}, {"Ref": "TokenKmsKeyArn"}]}
    for function in FUNCTIONS:
        granted = statements(role_of(function))
        actions = {
            action for s in granted for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        kms = [s for s in granted if "kms:Decrypt" in s["Action"] and s.get("Sid") != "SecretsKey"]
        token_handlers = (
            "CustomerSyncFunction", "InvoiceSyncFunction", "TenantBatchFunction", "FreshenFunction",
            "WebhookWorkerFunction",
        )  # fmt: skip
        if function in (*token_handlers, "MigrateFunction"):
            assert kms and all(s["Resource"] == key for s in kms), function
            assert all(kms_context_condition(s) for s in kms), function
        else:
            assert not kms, f"{function} never reads a token"
        s3 = [s for s in granted if any(str(a).startswith("s3:") for a in s["Action"])]
        if function in ("TenantsFunction", "RestTenantsFunction", "SummarizeFunction"):
            assert [(s["Action"], s["Resource"]) for s in s3] == [
                (["s3:PutObject", "s3:GetObject"], {"Fn::Sub": "${WorkListBucket.Arn}/executions/*"})
            ], function
        else:
            assert not s3, f"{function} never touches the work lists"
        sqs = {a for a in actions if a.startswith("sqs:")}
        expected_sqs = {
            "WebhookReceiverFunction": {"sqs:SendMessage"},
            "WebhookWorkerFunction": {
                "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
            },
        }.get(function, set())  # fmt: skip
        assert sqs == expected_sqs, function
        assert all(
            s["Resource"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]} for s in granted if "sqs:" in str(s["Action"])
        )
        assert actions - sqs <= {
            "secretsmanager:GetSecretValue", "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "s3:PutObject",
            "s3:GetObject",
        }  # fmt: skip
        (secrets_key,) = [s for s in granted if s.get("Sid") == "SecretsKey"]
        assert secrets_key["Resource"] == {"Ref": "SecretsKmsKeyArn"}, function
        assert secrets_key["Condition"] == {
            "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
        }
        assert all(s["Resource"] != "*" for s in granted), function


def kms_context_condition(statement: dict[str, Any]) -> bool:
    """Every use of the key names what it is for, as the code always does (books_sync.token_cipher): a
    refresh token with its tenant, a data key for access tokens, or (migration 0018 only) a v1 token."""
    condition = statement["Condition"]
    token = condition.get("StringEquals", {}).get("kms:EncryptionContext:token")
    tenant_given = condition.get("Null", {}).get("kms:EncryptionContext:tenant") == "false"
    if token == "refresh_token":
        return tenant_given and set(statement["Action"]) == {"kms:Encrypt", "kms:Decrypt"}
    if token == "access_token":
        return set(statement["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    legacy = statement["Action"] == "kms:Decrypt" and condition["Null"].get("kms:EncryptionContext:token") == "true"
    return bool(tenant_given and legacy)


def test_only_the_migration_reads_the_v1_form() -> None:
    for function in FUNCTIONS:
        legacy = [s for s in statements(role_of(function)) if s.get("Sid") == "TokensBeforeMigration0018"]
        assert bool(legacy) == (function == "MigrateFunction"), function


def test_the_vpc_policy_is_attached_only_in_a_vpc() -> None:
    for function in FUNCTIONS:
        arns = role_of(function)["Properties"]["ManagedPolicyArns"]
        vpc = [arn for arn in arns if VPC_POLICY in json.dumps(arn)]
        assert len(vpc) == 1 and next(iter(vpc[0])) == "Fn::If" and vpc[0]["Fn::If"][0] == "HasVpc", function
        config = resources()[function]["Properties"]["VpcConfig"]
        assert config["Fn::If"][0] == "HasVpc" and config["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_subnets_need_their_vpc_and_the_functions_egress_only_to_https_and_postgres() -> None:
    rule = source()["Rules"]["SubnetsNeedTheirVpc"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "VpcId"}, ""]}]}
    group = resources()["FunctionsSecurityGroup"]
    assert group["Condition"] == "CreateFunctionsSecurityGroup"
    egress = group["Properties"]["SecurityGroupEgress"]
    ports = {rule["FromPort"] for rule in egress[:1]} | {
        branch["FromPort"] for branch in egress[1]["Fn::If"][1:]
    }  # the database rule names the database's group when given
    assert ports == {443, 5432}


def test_endpoints_are_optional_and_reachable_from_the_functions() -> None:
    for name in ("SecretsManagerEndpoint", "KmsEndpoint", "EndpointsSecurityGroup"):
        assert resources()[name]["Condition"] == "CreateEndpoints", name
    assert source()["Parameters"]["CreateVpcEndpoints"]["Default"] == "false"
    ingress = resources()["EndpointsSecurityGroup"]["Properties"]["SecurityGroupIngress"][0]
    assert (ingress["FromPort"], ingress["ToPort"]) == (443, 443)


def test_the_state_machine_may_start_its_own_child_executions_and_invoke_its_eight_functions() -> None:
    role = resources()["SyncStateMachineRole"]
    granted = statements(role)
    invoked = {
        json.dumps(s["Resource"])
        for s in granted
        if s["Action"] == "lambda:InvokeFunction" or s["Action"] == ["lambda:InvokeFunction"]
    }
    assert len(invoked) == 8 and "MigrateFunction" not in "".join(invoked) and "Freshen" not in "".join(invoked)
    (reads,) = [s for s in granted if s["Action"] == "s3:GetObject"]  # the Maps' ItemReader, nothing else
    assert reads["Resource"] == {"Fn::Sub": "${WorkListBucket.Arn}/executions/*"}
    (writes,) = [s for s in granted if s.get("Sid") == "DistributedMapResults"]  # the Maps' ResultWriter
    assert writes["Action"] == ["s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]
    assert writes["Resource"] == {"Fn::Sub": "${WorkListBucket.Arn}/executions/results/*"}
    start = next(s for s in granted if s["Action"] == "states:StartExecution")
    assert start["Resource"]["Fn::Sub"].endswith(":stateMachine:${AWS::StackName}-sync")
    watch = next(s for s in granted if "states:DescribeExecution" in s["Action"])
    assert watch["Resource"]["Fn::Sub"].endswith(":execution:${AWS::StackName}-sync/*")


def test_executions_are_bounded_logged_without_data_and_alarmed() -> None:
    assert 3600 <= ASL["TimeoutSeconds"] <= 24 * 3600
    logging = resources()["SyncStateMachine"]["Properties"]["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ERROR", False)
    unfinished = json.dumps(resources()["UnfinishedExecutionsAlarm"]["Properties"])
    assert "ExecutionsTimedOut" in unfinished and "ExecutionsAborted" in unfinished


@pytest.mark.parametrize(
    ("alarm", "metric", "period", "missing"),
    [
        ("FailedExecutionsAlarm", "ExecutionsFailed", 300, "notBreaching"),
        ("TenantsNeedReauthorizationAlarm", "TenantsWaitingReauth", 86400, "notBreaching"),  # a daily digest
        ("TenantStartedFailingAlarm", "TenantsStartedFailing", 3600, "notBreaching"),  # once per tenant
        ("TenantsFailingOverADayAlarm", "TenantsFailingOverADay", 3600, "notBreaching"),
        ("NoTenantSyncedAlarm", "TenantsSynced", 3600, "breaching"),  # the heartbeat: silence is the alarm
    ],
)
def test_alarms(alarm: str, metric: str, period: int, missing: str) -> None:
    properties = resources()[alarm]["Properties"]
    assert (properties["MetricName"], properties["Period"], properties["TreatMissingData"]) == (metric, period, missing)
    assert properties["AlarmActions"]["Fn::If"][0] == "HasAlarmAction"


def test_lambda_errors_and_throttles_are_alarmed_for_the_state_machines_functions() -> None:
    for alarm, metric in (("LambdaErrorsAlarm", "Errors"), ("LambdaThrottlesAlarm", "Throttles")):
        metrics = resources()[alarm]["Properties"]["Metrics"]
        watched = {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for m in metrics if "MetricStat" in m}
        assert watched == set(FUNCTIONS) - {"MigrateFunction"} - WEBHOOK_FUNCTIONS, alarm
        assert all(m["MetricStat"]["Metric"]["MetricName"] == metric for m in metrics if "MetricStat" in m)


def test_the_dashboard_is_json_and_its_metrics_are_dimensioned_by_step_only() -> None:
    body, _ = resources()["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    rendered = re.sub(r"\$\{[A-Za-z:]+\}", "x", body)
    widgets = json.loads(rendered)["widgets"]
    ours = [m for w in widgets for m in w["properties"]["metrics"] if m[0] == "ZohoBooksSync"]
    assert ours and all(set(m[2::2]) <= {"step", "service"} for m in ours)


def test_reserved_concurrency_is_a_parameter_off_by_default() -> None:
    assert source()["Parameters"]["ReservedConcurrency"]["Default"] == 0
    for function in ("CustomerSyncFunction", "InvoiceSyncFunction", "RemindersFunction"):
        value = resources()[function]["Properties"]["ReservedConcurrentExecutions"]
        assert value["Fn::If"][0] == "HasReservedConcurrency", function


def test_log_groups_have_a_retention_and_explicit_policies() -> None:
    groups = of_type("AWS::Logs::LogGroup")
    assert len(groups) == len(FUNCTIONS) + 1
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Delete", name


def test_migrations_are_a_deploy_step_not_part_of_the_sync() -> None:
    assert "MigrateFunction" not in json.dumps(ASL)
    for function in FUNCTIONS:
        assert "AUTO_MIGRATE" not in json.dumps(resources()[function]["Properties"].get("Environment", {}))
    migrate = resources()["MigrateFunction"]["Properties"]
    assert migrate["Timeout"] == 900
    assert migrate["Environment"]["Variables"]["DB_SECRET_ARN"]["Fn::If"][0] == "HasMigrationSecret"


def test_the_definition_substitutions_are_exactly_the_placeholders() -> None:
    text = (ROOT / "statemachine" / "sync.asl.json").read_text(encoding="utf-8")
    substitutions = source()["Resources"]["SyncStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text)) == set(substitutions)


def test_the_freshen_runs_on_its_own_schedule_with_the_interval_it_is_told() -> None:
    """Every FreshenIntervalMinutes, named after the stack, its input `{}`, no retry (the next run is minutes
    away); the function knows the interval (its lookahead) and runs with the sync's role and key."""
    (schedule,) = [s for s in of_type("AWS::Scheduler::Schedule").values() if "freshen" in json.dumps(s)]
    properties = schedule["Properties"]
    assert properties["Name"] == {"Fn::Sub": "${AWS::StackName}-freshen"}
    assert properties["ScheduleExpression"] == {"Fn::Sub": "rate(${FreshenIntervalMinutes} minutes)"}
    assert properties["Target"]["Input"] == "{}"
    assert properties["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    function = resources()["FreshenFunction"]["Properties"]
    assert function["Environment"]["Variables"]["FRESHEN_INTERVAL_MINUTES"] == {"Ref": "FreshenIntervalMinutes"}
    assert function["Timeout"] < 300  # ends before the next run at the shortest interval
    assert source()["Parameters"]["FreshenIntervalMinutes"]["MinValue"] == 5
    missed = resources()["RemindersMissedAlarm"]["Properties"]
    assert missed["MetricName"] == "RemindersMissed" and {d["Value"] for d in missed["Dimensions"]} == {"freshen"}


def test_metric_math_survives_missing_data_and_a_saved_query_names_the_failed_tenants() -> None:
    """AWS/States metrics exist only when something happens: sums use FILL, or an alarm would never fire."""
    unfinished = resources()["UnfinishedExecutionsAlarm"]["Properties"]["Metrics"][0]["Expression"]
    assert unfinished.startswith("FILL(timedout, 0) + FILL(aborted, 0)")
    succeeded = resources()["NoSuccessfulExecutionAlarm"]["Properties"]
    assert succeeded["Metrics"][0]["Expression"].startswith("FILL(executions, 0)")
    assert succeeded["ComparisonOperator"] == "LessThanThreshold"
    query = resources()["TenantsFailedQuery"]["Properties"]
    assert query["LogGroupNames"] == [{"Ref": "SummarizeLogGroup"}]
    assert 'filter message = "tenant failed"' in query["QueryString"]
    assert "userId, step, error" in query["QueryString"]
    summarize = resources()["SummarizeFunction"]["Properties"]["Environment"]["Variables"]
    assert summarize["SYSTEMIC_FAILURE_SHARE"] == {"Ref": "SystemicFailureShare"}


def test_the_work_lists_are_private_encrypted_tls_only_and_expire() -> None:
    bucket = resources()["WorkListBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 15
    (deny,) = resources()["WorkListBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    for function in ("TenantsFunction", "RestTenantsFunction"):
        variables = resources()[function]["Properties"]["Environment"]["Variables"]
        assert variables["WORK_LIST_BUCKET"] == {"Ref": "WorkListBucket"}, function


def test_tenants_are_routed_quiet_to_express_batches_and_the_rest_to_standard_children() -> None:
    """No id travels through the state: both Maps read S3 work lists; quiet tenants run in batches as EXPRESS
    children (one TenantBatch each, within EXPRESS's 5 minutes), the rest as STANDARD children."""
    states = ASL["States"]
    assert [name for name in states if states[name]["Type"] == "Map"] == ["QuietTenants", "HeavyTenants"]
    quiet, heavy = states["QuietTenants"], states["HeavyTenants"]
    for mapped, key in ((quiet, "$.selection.workLists.quiet"), (heavy, "$.rest")):
        assert mapped["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
        assert mapped["ItemReader"]["Parameters"] == {"Bucket.$": f"{key}.bucket", "Key.$": f"{key}.key"}
        assert mapped["ResultPath"] is None and "ItemsPath" not in mapped
        assert mapped["ToleratedFailurePercentage"] == 100
        assert mapped["ResultWriter"] == {  # no child's output (a failed one's error included) gathers in the state
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "${WorkListBucketName}", "Prefix": "executions/results"},
        }
    assert quiet["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert heavy["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert quiet["ItemBatcher"]["MaxItemsPerBatchPath"] == "$.selection.quietBatchSize"
    batch = quiet["ItemProcessor"]["States"]["TenantBatch"]
    assert batch["Resource"] == "${TenantBatchFunctionArn}" and "OutputPath" in batch and batch["OutputPath"] is None
    assert resources()["TenantBatchFunction"]["Properties"]["Timeout"] < batch["TimeoutSeconds"]
    (retry,) = batch["Retry"]  # a throttle only (it happens before the batch runs): at most 2 + 4 + 8 s more
    assert retry["ErrorEquals"] == ["Lambda.TooManyRequestsException"]
    waits = sum(min(retry["IntervalSeconds"] * retry["BackoffRate"] ** n, retry["MaxDelaySeconds"]) for n in range(3))
    assert retry["MaxAttempts"] == 3 and batch["TimeoutSeconds"] + waits < 300  # the EXPRESS child's 5 minutes
    assert (states["ListTenants"]["Next"], quiet["Next"], states["RestTenants"]["Next"], heavy["Next"]) == (
        "QuietTenants", "RestTenants", "HeavyTenants", "Summarize")  # fmt: skip
    substitutions = resources()["SyncStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert {"TenantBatchFunctionArn", "RestTenantsFunctionArn"} <= set(substitutions)
    assert substitutions["WorkListBucketName"] == {"Ref": "WorkListBucket"}


def test_a_caught_step_error_is_recorded_and_a_child_keeps_nothing() -> None:
    """Every Catch of a tenant's child goes to RecordFailure (a Task: what the step could not record), which
    ends with {} whatever happens to it."""
    processor = ASL["States"]["HeavyTenants"]["ItemProcessor"]["States"]
    catches = [c["Next"] for state in processor.values() for c in state.get("Catch", [])]
    assert set(catches) == {"TenantFailed", "FailureNotRecorded"} and catches.count("FailureNotRecorded") == 1
    failed = processor["TenantFailed"]
    assert failed["Resource"] == "${RecordFailureFunctionArn}" and failed["OutputPath"] is None and failed["End"]
    assert failed["Parameters"] == {"userId.$": "$.userId", "executionId.$": "$.executionId", "error.$": "$.error"}
    assert processor["FailureNotRecorded"]["Result"] == {} and processor["TenantDone"]["Result"] == {}


@pytest.mark.parametrize("parameter", ["DatabaseSecretArn", "ZohoOAuthSecretArn", "MigrationDatabaseSecretArn"])
def test_a_secret_parameter_takes_a_full_arn_only(parameter: str) -> None:
    """Issue 26: a partial ARN (without the 6-character suffix Secrets Manager adds) passed the pattern, then the
    IAM policy on it matched no secret."""
    pattern = re.compile(source()["Parameters"][parameter]["AllowedPattern"])
    full = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:zoho-books-sync/db-AbC123"
    assert pattern.fullmatch(full)
    for wrong in ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:zoho-books-sync/db", "arn:aws:secretsmanager:x",
                  "zoho-books-sync/db"):  # fmt: skip
        assert not pattern.fullmatch(wrong), wrong


def test_webhooks_arrive_at_a_function_url_and_go_through_a_queue_with_a_dead_letter_queue() -> None:
    """Issue 24: the receiver's URL (no IAM auth: Zoho cannot sign with SigV4; each tenant's secret is checked),
    an encrypted queue whose messages rest in a dead-letter queue after 5 deliveries (alarmed), a worker fed by it
    with partial batch responses and a bounded concurrency (database connections)."""
    url = resources()["WebhookReceiverFunctionUrl"]["Properties"]
    assert url["AuthType"] == "NONE"
    queue = resources()["WebhookQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": 5}  # fmt: skip
    assert queue["SqsManagedSseEnabled"] and resources()["WebhookDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"]
    assert queue["VisibilityTimeout"] >= resources()["WebhookWorkerFunction"]["Properties"]["Timeout"]
    (mapping,) = of_type("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "WebhookConcurrency"}}
    alarm = resources()["WebhookDeadLettersAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "QueueName"]}
    errors = json.dumps(resources()["WebhookErrorsAlarm"]["Properties"]["Metrics"])
    assert all(function in errors for function in WEBHOOK_FUNCTIONS)
    variables = resources()["WebhookReceiverFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["WEBHOOK_QUEUE_URL"] == {"Ref": "WebhookQueue"}
    assert source()["Outputs"]["WebhookUrl"]["Value"] == {"Fn::GetAtt": ["WebhookReceiverFunctionUrl", "FunctionUrl"]}
