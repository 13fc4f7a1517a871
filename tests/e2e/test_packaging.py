"""What `sam build` produces is what Lambda runs: the layer's package and each handler import from it.

The build goes to a temporary directory; the imports run in a fresh interpreter with `-S` (no
site processing, so the development install's paths are absent) and the build directories first
on the path, the way Lambda puts /opt/python and the function's code there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {
    "TenantsFunction": "tenants.handler",
    "CustomerSyncFunction": "customer_sync.handler",
    "InvoiceSyncFunction": "invoice_sync.handler",
    "RemindersFunction": "reminders.handler",
}
PROBE = """
import importlib, json, sys
from books_sync.migrator import discover
module = importlib.import_module(sys.argv[1])
import books_sync
print(json.dumps({"handler": module.__file__, "layer": books_sync.__file__,
                  "callable": callable(module.lambda_handler),
                  "migrations": [m.version for m in discover()]}))
"""


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("sam-build")
    sam = Path(sys.executable).with_name("sam")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{sam.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(sam), "build", "--template-file", str(ROOT / "template.yaml"), "--build-dir", str(target)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return target


@pytest.mark.parametrize(("function", "module"), FUNCTIONS.items())
def test_handler_imports_from_the_built_artifacts(build_dir: Path, function: str, module: str) -> None:
    layer = build_dir / "SyncLayer" / "python"
    assert (layer / "books_sync" / "__init__.py").is_file(), "the layer package must sit at python/books_sync"
    code = build_dir / function
    # boto3 ships with the Lambda runtime, not in the layer: take it (only) from this environment.
    site_packages = sysconfig.get_paths()["purelib"]
    env = {"PYTHONPATH": os.pathsep.join([str(code), str(layer), site_packages]), "PATH": os.environ.get("PATH", "")}
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, module], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(found["handler"]).is_relative_to(code)
    assert Path(found["layer"]).is_relative_to(layer)
    assert found["callable"] is True
    assert found["migrations"][:5] == [1, 2, 3, 4, 5]
