"""What the command line prints: results on stdout (a table, or JSON with `--json`), everything
else (which database, progress, notes, errors) on stderr, and exit codes with one meaning each."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any

from zoho_sync_cli.tables import render


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # a tenant failed, or the command could not do its job
    USAGE = 2  # the command line itself was wrong (argparse)
    NEEDS_REAUTH = 3  # nothing failed, but tenants need re-authorization
    INTERRUPTED = 130


class CliError(Exception):
    """A problem to report on one line (exit 1)."""


class UsageError(CliError):
    """The command line asks for something it cannot mean (exit 2, as argparse's own mistakes)."""


def note(message: str) -> None:
    """A line for the operator, on stderr: stdout carries only results."""
    print(message, file=sys.stderr, flush=True)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


_CAMEL = re.compile(r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+")  # a field name (data keys have spaces or hyphens)


def snake_keys(value: Any) -> Any:
    """One key style in every `--json` output: snake_case, as the sender's fields and the database's columns
    (the steps' summaries, camelCase for Step Functions, are converted: `apiCalls` -> `api_calls`)."""
    if isinstance(value, dict):
        return {
            (re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower() if _CAMEL.fullmatch(str(key)) else key): snake_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [snake_keys(item) for item in value]
    return value


def result_json(value: Any) -> None:
    print(json.dumps(snake_keys(value), default=_plain, ensure_ascii=False, indent=2))


def result_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print(render(headers, rows))
