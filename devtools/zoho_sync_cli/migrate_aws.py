"""`make migrate-aws STACK=...`: the stack's migrate function, invoked once, its real outcome reported.

`sam remote invoke` waits 60 s for the answer and then retries: a long migration ran up to five times.
Here the call waits up to 15 minutes (the function's own limit), and neither the SDK nor anything else
tries again: one migration run, its answer or its error printed, the exit code saying which.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

LAMBDA_LIMIT_SECONDS = 900


def invoke_once_config() -> Any:
    """The Lambda client's settings: one attempt, read timeout beyond the function's limit."""
    from botocore.config import Config

    return Config(
        read_timeout=LAMBDA_LIMIT_SECONDS + 30, connect_timeout=10, retries={"max_attempts": 1, "mode": "standard"}
    )


def migrate_function(stack: str, cloudformation: Any) -> str:
    found = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId="MigrateFunction")
    return str(found["StackResourceDetail"]["PhysicalResourceId"])


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(prog="migrate-aws", description=__doc__)
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--to", type=int, help="stop after migration N (default: the newest)")
    args = parser.parse_args(argv)
    name = migrate_function(args.stack_name, boto3.client("cloudformation"))
    event = {"to": args.to} if args.to else {}
    print(f"invoking {name} once (waits up to {LAMBDA_LIMIT_SECONDS // 60} minutes)...", file=sys.stderr, flush=True)
    answer = boto3.client("lambda", config=invoke_once_config()).invoke(
        FunctionName=name, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
    )
    payload = answer["Payload"].read().decode("utf-8", errors="replace")
    print(payload)
    if answer.get("FunctionError"):
        print(f"the migrate function failed ({answer['FunctionError']}): see its answer above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
