"""`make bench`: every benchmark in turn; each prints its own figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = ["zoho_pacing.py", "customer_sync.py", "api_calls.py", "large_tenant.py", "new_tenant.py", "fleet.py"]


def main() -> int:
    here = Path(__file__).parent
    failed = []
    for script in BENCHMARKS:
        print(f"\n=== {script} ===", flush=True)
        started = time.monotonic()
        # Figures only: the steps' structured logs and metric lines would bury them.
        env = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true", **os.environ}
        result = subprocess.run([sys.executable, str(here / script)], check=False, env=env)
        print(f"--- {script}: exit {result.returncode}, {time.monotonic() - started:.1f} s", flush=True)
        if result.returncode:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
