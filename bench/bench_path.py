"""Imported first by every benchmark: takes bench/ off `sys.path`.

`python bench/x.py` puts bench/ first on the path, and bench/customer_sync.py (named by the
issue that asked for it) would then shadow the step package `customer_sync`.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
