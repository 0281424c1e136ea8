"""Logging: enb logs through the standard :mod:`logging` module, under the ``enb`` logger.

Levels: warnings and the end-of-run reports show by default; ``-v`` adds the steps (INFO),
``-vv`` the details (DEBUG).
"""
from __future__ import annotations

import logging

logger = logging.getLogger("enb")
#: Between INFO and WARNING: the short report printed after a get_df that ran work.
REPORT = 25
_handler: logging.Handler | None = None


class _Formatter(logging.Formatter):
    def format(self, record):
        if record.levelno == REPORT:
            return record.getMessage()
        return f"{record.levelname.lower()}: {record.getMessage()}" + (
            "\n" + self.formatException(record.exc_info) if record.exc_info else "")


def configure(verbose: int) -> None:
    """Set enb's log level from ``verbose`` (0: reports and warnings, 1: info, 2+: debug).

    A handler on stderr is added only when neither enb's logger nor the root logger has one,
    so an embedding program's logging set-up is respected.
    """
    global _handler
    level = REPORT if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logger.setLevel(level)
    if _handler is None and not logger.handlers and not logging.getLogger().handlers:
        _handler = logging.StreamHandler()
        _handler.setFormatter(_Formatter())
        logger.addHandler(_handler)
        logger.propagate = False
