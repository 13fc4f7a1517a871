"""What `sam build` produces is what Lambda runs, and it is complete on its own.

The build goes to a temporary directory. Each handler is then imported by a fresh interpreter that sees only
what Lambda gives it: the function's code, the built layer (/opt/python), a "runtime" folder holding boto3 and
the packages it needs (the python3.12 runtime provides them) and the standard library. `-S` keeps every
site-packages folder away, so a dependency missing from the layer fails here instead of in AWS; one test proves
it by taking scramp out of a copy of the layer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAYER_SOURCE = ROOT / "layers" / "common"
FUNCTIONS = {
    "TenantsFunction": "tenants.handler",
    "RestTenantsFunction": "tenants.rest_handler",
    "TenantBatchFunction": "tenant_batch.handler",
    "CustomerSyncFunction": "customer_sync.handler",
    "InvoiceSyncFunction": "invoice_sync.handler",
    "RemindersFunction": "reminders.handler",
    "SummarizeFunction": "tenants.summary_handler",
    "RecordFailureFunction": "tenants.failure_handler",
    "MigrateFunction": "migrate_schema.handler",
    "FreshenFunction": "freshen.handler",
    "WebhookReceiverFunction": "webhooks.receiver_handler",
    "WebhookWorkerFunction": "webhooks.worker_handler",
}
# boto3 and what it needs: what the python3.12 runtime has besides the standard library (its site-packages).
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
# The layer unzipped: ~26 MB with the geocoder left out and botocore not bundled (57 MB before), of which
# cryptography (AES-GCM for the tokens at rest) is 14 MB; ~11 MB before it came.
MAX_LAYER_BYTES = 30_000_000
PROBE = """
import importlib, json, sys
from books_sync.migrator import discover
from books_sync.records.phones import choose_phone, timezone_for
module = importlib.import_module(sys.argv[1])
import books_sync
e164 = choose_phone({"mobile": "020 7946 0958"}, "GB", None).e164
print(json.dumps({"handler": module.__file__, "layer": books_sync.__file__,
                  "callable": callable(module.lambda_handler),
                  "migrations": [m.version for m in discover()],
                  "phone": [e164, timezone_for(e164, None, None, None)],
                  "path": sys.path,
                  "loaded": sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})}))
"""
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+) \\$")


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `sam build` for the module; `--no-cached` so no other build's cache in .aws-sam takes part."""
    target = tmp_path_factory.mktemp("sam-build")
    sam = Path(sys.executable).with_name("sam")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{sam.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(sam), "build", "--template-file", str(ROOT / "template.yaml"), "--build-dir", str(target)]
    result = subprocess.run(
        [*command, "--no-cached"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return target


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """boto3 and its dependencies alone, linked from this environment, as the Lambda runtime provides them."""
    target = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_DISTRIBUTIONS:
        distribution = metadata.distribution(name)
        tops = {file.parts[0] for file in distribution.files or ()} - {"..", "__pycache__"}
        for top in tops:
            if not (target / top).exists():
                (target / top).symlink_to(Path(str(distribution.locate_file(top))))
    return target


def _layer(build_dir: Path) -> Path:
    return build_dir / "SyncLayer" / "python"


def _import_handler(module: str, code: Path, layer: Path, runtime: Path) -> subprocess.CompletedProcess[str]:
    """The probe in an interpreter whose path is Lambda's: function code, layer, runtime, standard library."""
    env = {
        "PYTHONPATH": os.pathsep.join([str(code), str(layer), str(runtime)]),
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",  # /opt is read-only in Lambda; and the built layer stays as built
        "LAMBDA_TASK_ROOT": str(code),  # Powertools' Tracer is on in Lambda: it loads the X-Ray SDK and patches
    }
    return subprocess.run(
        [sys.executable, "-S", "-c", PROBE, module],
        cwd=code,  # as /var/task is in Lambda; `-c` puts the working directory first on the path
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _outside(paths: list[str], allowed: list[Path]) -> list[str]:
    return [p for p in paths if not any(Path(p).is_relative_to(root) for root in allowed)]


@pytest.mark.parametrize(("function", "module"), FUNCTIONS.items())
def test_handler_imports_from_the_built_layer_alone(
    build_dir: Path, runtime_dir: Path, function: str, module: str
) -> None:
    layer = _layer(build_dir)
    assert (layer / "books_sync" / "__init__.py").is_file(), "the layer package must sit at python/books_sync"
    code = build_dir / function
    result = _import_handler(module, code, layer, runtime_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(found["handler"]).is_relative_to(code)
    assert Path(found["layer"]).is_relative_to(layer)
    assert found["callable"] is True
    assert found["migrations"][:5] == [1, 2, 3, 4, 5]
    assert found["phone"] == ["+442079460958", "Europe/London"], "phone parsing and timezones must survive pruning"
    standard_library = [Path(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib")]
    allowed = [code, layer, runtime_dir, *standard_library, Path(sys.base_prefix) / "lib"]
    path = [entry or str(code) for entry in found["path"]]
    assert not [p for p in path if "site-packages" in p], path
    assert _outside(path, allowed) == []
    # Everything imported came from the build, the runtime's boto3 or the standard library; nothing from here.
    assert _outside(found["loaded"], [code, layer, runtime_dir, *standard_library]) == []


def test_a_dependency_missing_from_the_layer_fails_the_import(
    build_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """The check above can fail: the same layer without scramp (pg8000's SCRAM login) does not import."""
    layer = _layer(build_dir)
    incomplete = tmp_path / "python"
    incomplete.mkdir()
    for entry in layer.iterdir():
        if not entry.name.startswith("scramp"):
            (incomplete / entry.name).symlink_to(entry)
    result = _import_handler("customer_sync.handler", build_dir / "CustomerSyncFunction", incomplete, runtime_dir)
    assert result.returncode != 0
    assert "No module named 'scramp'" in result.stderr


def test_the_layer_leaves_out_what_the_code_never_loads(build_dir: Path) -> None:
    layer = _layer(build_dir)
    size = sum(f.stat().st_size for f in layer.rglob("*") if f.is_file())
    print(f"SyncLayer unzipped: {size / 1e6:.1f} MB")  # the figure the README quotes
    assert size < MAX_LAYER_BYTES
    assert (layer / "phonenumbers" / "tzdata").is_dir()
    assert not (layer / "phonenumbers" / "geodata").exists(), "phonenumbers' geocoder data (~19 MB) is never loaded"
    assert not (layer / "phonenumbers" / "carrierdata").exists()
    assert not (layer / "botocore").exists(), "botocore comes with the runtime; a bundled one would shadow it"
    assert not list(layer.rglob("__pycache__"))


def test_the_compiled_packages_are_built_for_the_functions(build_dir: Path) -> None:
    """cryptography and cffi ship compiled code: the wheels must be Linux arm64 for CPython 3.12 (the
    functions' platform), whatever machine builds the layer. (The handlers import on this machine because
    the token ciphers load cryptography at their first token, not at import.)"""
    layer = _layer(build_dir)
    for name in ("cryptography", "cffi"):
        (wheel,) = layer.glob(f"{name}-*.dist-info/WHEEL")
        tags = [line.split(": ", 1)[1] for line in wheel.read_text().splitlines() if line.startswith("Tag: ")]
        assert tags and all(tag.endswith("aarch64") for tag in tags), (name, tags)
        assert all(tag.split("-")[0] in ("cp312", "cp311") for tag in tags), (name, tags)


def test_the_layer_ships_every_file_of_its_package(build_dir: Path) -> None:
    """Migrations, certificates and any other data beside the code reach /opt/python/books_sync."""
    source = LAYER_SOURCE / "books_sync"
    wanted = {p.relative_to(source) for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    built = _layer(build_dir) / "books_sync"
    assert wanted - {p.relative_to(built) for p in built.rglob("*") if p.is_file()} == set()


def _pins() -> dict[str, str]:
    """Package -> version from the layer's requirements.txt, each line checked to be an exact pin with hashes."""
    lines = (LAYER_SOURCE / "requirements.txt").read_text().splitlines()
    pins: dict[str, str] = {}
    for index, line in enumerate(lines):
        if not line or line.startswith(("#", " ")):
            continue
        match = PIN.match(line)
        assert match, f"not an exact pin: {line!r}"
        assert lines[index + 1].strip().startswith("--hash=sha256:"), f"no hash for {line!r}"
        pins[canonicalize_name(match["name"])] = match["version"]
    return pins


def test_the_layer_installs_exactly_its_pins(build_dir: Path) -> None:
    pins = _pins()
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=[str(_layer(build_dir))])
    }
    assert installed == pins
    assert "boto3" not in pins
    assert "botocore" not in pins


def test_the_pins_satisfy_the_declared_ranges() -> None:
    """requirements.in and pyproject.toml's dependencies allow the pinned versions (the lock is not stale)."""
    pins = _pins()
    declared = [
        line
        for line in (LAYER_SOURCE / "requirements.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    in_layer = [Requirement(r) for r in declared]
    assert {canonicalize_name(r.name) for r in in_layer} <= set(pins)
    for requirement in [*in_layer, *(Requirement(r) for r in project)]:
        name = canonicalize_name(requirement.name)
        if name in pins:
            assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]}: {requirement}"
