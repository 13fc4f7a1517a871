"""`make migrate-aws`: the stack's migrate function is invoked once and its real outcome reported (issue 26:
`sam remote invoke` waited 60 s, then retried, so a long migration ran up to five times). moto's CloudFormation
and Lambda; the function's invocation is counted in process."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from zoho_sync_cli import migrate_aws


def test_one_attempt_and_a_wait_beyond_the_functions_own_limit() -> None:
    config = migrate_aws.invoke_once_config()
    assert config.retries["max_attempts"] == 1
    assert config.read_timeout > migrate_aws.LAMBDA_LIMIT_SECONDS


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """A stack with a MigrateFunction; each invocation of it is recorded, and fails as a migration might."""
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }.items():
        monkeypatch.setenv(name, value)
    invoked: list[Any] = []

    def invoke(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        invoked.append(json.loads(event) if isinstance(event, str | bytes) else event)
        return json.dumps({"errorType": "MigrationError", "errorMessage": "0021 failed"}), True, ""

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return {}\n")
    with mock_aws(), mock.patch.object(LambdaFunction, "_invoke_lambda", invoke):
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        template = {"Resources": {"MigrateFunction": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.12", "Handler": "handler.lambda_handler", "Role": role,
            "Code": {"ZipFile": "def lambda_handler(event, context):\n    return {}\n"}}}}}  # fmt: skip
        boto3.client("cloudformation").create_stack(StackName="zoho-books-sync", TemplateBody=json.dumps(template))
        yield invoked


def test_the_migrate_function_runs_once_and_its_failure_is_the_exit_code(
    stack: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert migrate_aws.main(["--stack-name", "zoho-books-sync", "--to", "21"]) == 1
    assert stack == [{"to": 21}]  # once
    out, err = capsys.readouterr()
    assert "0021 failed" in out and "the migrate function failed" in err
