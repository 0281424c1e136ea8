"""enb (Experiment NoteBook): computer experiments as tables, on one machine or many.

``import enb`` only defines names: submodules load on first use, nothing is printed, no folder
is created and the working directory is left alone.
"""
from __future__ import annotations

import importlib
import logging
import os as _os
import sys as _sys

__version__ = "2.0.0.dev0"

#: enb's logger; ``-v`` and ``-vv`` lower its level (see :mod:`enb.log`).
logger = logging.getLogger("enb")

_SUBMODULES = {"atable", "config", "executors", "experiment", "sets", "misc", "parallel_ray",
               "transport", "plugins", "log", "progress", "persistence", "engine", "rows",
               "report"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "calling_script_dir":
        # The folder of the running script, as in enb 1.x (computed when asked).
        from .config.options import calling_script_dir
        return calling_script_dir()
    raise AttributeError(f"module 'enb' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | {"calling_script_dir"})
