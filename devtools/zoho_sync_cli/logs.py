"""The steps' logs in the command line: on stderr, and quiet (warnings only) unless `-v`.

The steps log with Powertools, whose handlers write JSON to stdout: that is the right place in
Lambda, and the wrong one in a command whose stdout is its result. Metrics are not emitted here.
"""

from __future__ import annotations

import logging
import os
import sys

STEP_LOGGERS = ("customer-sync", "invoice-sync", "reminders", "tenants")


def configure(verbose: int) -> None:
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    level = logging.WARNING if verbose == 0 else (logging.INFO if verbose == 1 else logging.DEBUG)
    os.environ["POWERTOOLS_LOG_LEVEL"] = logging.getLevelName(level)
    for logger in _step_loggers():
        logger.setLevel(level)  # Powertools sets a level on child loggers too, read when created
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
                handler.setStream(sys.stderr)


def _step_loggers() -> list[logging.Logger]:
    names = [name for name in logging.root.manager.loggerDict if name.split(".", 1)[0] in STEP_LOGGERS]
    return [logging.getLogger(name) for name in {*STEP_LOGGERS, *names}]
