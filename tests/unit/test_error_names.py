"""The state machine retries and catches errors by class name: every name it uses must exist.

A renamed exception would otherwise silently stop its retries (Step Functions matches strings).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from books_sync import errors

ASL = Path(__file__).resolve().parents[2] / "statemachine" / "sync.asl.json"
AWS_NAMES = ("States.", "Lambda.")


def error_names(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = set(node.get("ErrorEquals", []))
        return found.union(*(error_names(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(error_names(value) for value in node))
    return set()


def test_every_error_name_in_the_state_machine_is_one_of_our_exception_classes() -> None:
    ours = {name for name in error_names(json.loads(ASL.read_text())) if not name.startswith(AWS_NAMES)}
    assert ours, "the state machine retries none of our errors: the test reads the wrong file"
    classes = {name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, Exception)}
    assert ours <= classes, f"not exception classes in books_sync.errors: {sorted(ours - classes)}"
