"""Logging: enb logs through the standard :mod:`logging` module, under the ``enb`` logger."""
from __future__ import annotations

import logging

logger = logging.getLogger("enb")
_handler: logging.Handler | None = None


def configure(verbose: int) -> None:
    """Set enb's log level from ``verbose`` (0: warnings, 1: info, 2+: debug).

    A handler on stderr is added only when neither enb's logger nor the root logger has one,
    so an embedding program's logging set-up is respected.
    """
    global _handler
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logger.setLevel(level)
    if _handler is None and not logger.handlers and not logging.getLogger().handlers:
        _handler = logging.StreamHandler()
        _handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(_handler)
        logger.propagate = False
