"""The steps' logs in the command line: on stderr, and silent unless `-v` (the result says what failed).

The steps log with Powertools, whose handlers write JSON to stdout: that is the right place in
Lambda, and the wrong one in a command whose stdout is its result. Metrics are not emitted here.
Everything is put back when the command returns, so calling `main()` in a process (the tests do)
leaves its logging as it was.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

STEP_LOGGERS = ("customer-sync", "invoice-sync", "reminders", "tenants", "summarize", "migrate")
_ENVIRONMENT = ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOG_LEVEL")
SILENT = logging.CRITICAL + 10  # above every level a step logs at


@contextmanager
def configured(verbose: int) -> Iterator[None]:
    """Within the block, step logs are off (-v: INFO on stderr, -vv: DEBUG) and no metric is emitted."""
    level = SILENT if verbose == 0 else (logging.INFO if verbose == 1 else logging.DEBUG)
    saved_env = {name: os.environ.get(name) for name in _ENVIRONMENT}
    saved: list[tuple[logging.Logger, int, list[tuple[logging.StreamHandler[Any], IO[str]]]]] = []
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ["POWERTOOLS_LOG_LEVEL"] = logging.getLevelName(min(level, logging.CRITICAL))
    for logger in _step_loggers():
        moved = [
            (h, h.stream) for h in logger.handlers if isinstance(h, logging.StreamHandler) and h.stream is sys.stdout
        ]
        saved.append((logger, logger.level, moved))
        logger.setLevel(level)  # Powertools sets a level on child loggers too, read when created
        for handler, _ in moved:
            handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for logger, old_level, moved in saved:
            logger.setLevel(old_level)
            for handler, stream in moved:
                handler.setStream(stream)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _step_loggers() -> list[logging.Logger]:
    names = [name for name in logging.root.manager.loggerDict if name.split(".", 1)[0] in STEP_LOGGERS]
    return [logging.getLogger(name) for name in {*STEP_LOGGERS, *names}]
