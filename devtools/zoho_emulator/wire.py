"""What goes back over HTTP: an answer, an API error, and JSON that survives any string."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def encode_json(payload: Any) -> bytes:
    """UTF-8 JSON. A lone surrogate (half an emoji) has no UTF-8 form, so such a payload goes out
    with ASCII escapes (`\\ud83d`), as a real API that stores it would send it."""
    try:
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(payload).encode("ascii")


@dataclass
class Response:
    """One answer. The server sleeps `delay_seconds` before sending it and calls `finish()` after."""

    status: int
    body: bytes
    content_type: str = "application/json;charset=UTF-8"
    delay_seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    on_finish: Callable[[], None] | None = None  # frees the call's concurrency slot once delivered

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        return cls(status, encode_json(payload))

    def finish(self) -> None:
        """The answer is delivered (or abandoned): run the finishing hook once."""
        hook, self.on_finish = self.on_finish, None
        if hook is not None:
            hook()


class ApiError(Exception):
    """A Zoho error answer: HTTP status plus Zoho's own code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        return Response.json(self.status, {"code": self.code, "message": self.message})
