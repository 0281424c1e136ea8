"""Configuration: ``enb.config.options`` (see :mod:`enb.config.options`) and ``enb.config.ini``.

enb 1.x's helpers around options are here too: :func:`get_options`, :func:`set_options`,
:func:`propagates_options` and :func:`report_configuration`.
"""
from __future__ import annotations

import functools
import os

from . import aini  # noqa: F401 (enb 1.x module name)
from .aini import ini  # noqa: F401
from .options import (EXECUTOR_NAMES, OPTIONS, Option, OptionError, Options,  # noqa: F401
                      calling_script_dir)

#: The options of this process. Reading one the first time reads the command line and .ini files.
options = Options()


def get_options(from_main: bool = False) -> Options:
    """Return ``enb.config.options`` (enb 1.x; use ``from enb.config import options``)."""
    return options


def set_options(new_options) -> None:
    """Set ``enb.config.options`` from a dict, a namespace or another Options object."""
    if new_options is not options:
        options.update(new_options)


def propagates_options(f):
    """Decorate a function that takes an ``options`` keyword: set them, then run in the project.

    enb 1.x used it to hand options to worker processes; enb's executors do that already, so
    this only applies the given options (when they are not these) and the project folder.
    """
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        given = kwargs.get("options")
        if given is not None:
            set_options(given)
        os.chdir(options.project_root)
        return f(*args, **kwargs)
    return wrapper


def report_configuration() -> str:
    """Return a description of the .ini files read and the current options."""
    from .. import log
    return "\n".join(("Combined ini file configurations:", repr(ini), "",
                      "Parameters of enb.config.options:",
                      "\n".join(f"{k} = {v}" for k, v in options.items()), "",
                      "Logging status:", log.logger.report_level_status()))
