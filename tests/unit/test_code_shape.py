"""House rule: no function in what ships (the layer and the functions) is longer than 50 lines.

Ruff counts statements, not lines, so this counts lines: a long function is a sign that two
jobs share it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 50


def long_functions() -> list[str]:
    found = []
    for folder in ("layers", "functions"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > LIMIT:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_50_lines() -> None:
    assert long_functions() == []
