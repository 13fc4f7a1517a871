"""A Lambda context for running handlers in process (tests, `zoho-sync run`, the local state machine)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


@dataclass
class LocalLambdaContext:
    """Mimics the fields Powertools and our engines read; the clock starts at construction."""

    function_name: str
    timeout_seconds: float = 900.0
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class CountdownLambdaContext(LocalLambdaContext):
    """A context whose time runs out after `checks` questions: a deterministic tiny time budget."""

    checks: int = 10

    def get_remaining_time_in_millis(self) -> int:
        if self.checks <= 0:
            return 0
        self.checks -= 1
        return int(self.timeout_seconds * 1000)
