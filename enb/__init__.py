"""enb (Experiment NoteBook): computer experiments as tables, on one machine or many.

``import enb`` only defines names: submodules load on first use, nothing is printed, no folder
is created and the working directory is left alone.
"""
from __future__ import annotations

import importlib
import os as _os

__version__ = "2.0.0.dev0"

_SUBMODULES = {"atable", "config", "executors", "experiment", "sets", "misc", "parallel_ray",
               "transport", "plugins", "log", "progress", "persistence", "engine", "rows",
               "report", "parallel", "tcall", "tarlite", "cluster",
               # enb[compression] (numpy): loaded on first use, like every submodule
               "isets", "compression", "icompression", "pgm", "png", "jpg", "fits",
               # enb[plot] (matplotlib, scipy): loaded on first use, like every submodule
               "aanalysis", "plotdata", "render"}
#: enb 1.x's module-level names, computed when asked for.
_COMPUTED = {"calling_script_dir", "logger", "enb_installation_dir", "user_config_dir",
             "is_enb_cli", "default_base_dataset_dir", "default_persistence_dir",
             "default_output_plots_dir", "default_analysis_dir"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "logger":
        # enb 1.x's logger (enb.logger.message(...)), on the standard "enb" logger.
        from .log import logger
        return logger
    if name == "calling_script_dir":
        # The folder of the running script, as in enb 1.x.
        from .config.options import calling_script_dir
        return calling_script_dir()
    if name == "enb_installation_dir":
        return _os.path.dirname(_os.path.abspath(__file__))
    if name == "user_config_dir":
        home = _os.environ.get("XDG_CONFIG_HOME") or _os.path.expanduser("~/.config")
        return _os.path.join(home, "enb")
    if name == "is_enb_cli":
        import sys
        return bool(sys.argv) and _os.path.basename(sys.argv[0]) in ("__main__.py", "enb")
    if name.startswith("default_") and name in _COMPUTED:
        option = {"default_base_dataset_dir": "base_dataset_dir",
                  "default_persistence_dir": "persistence_dir",
                  "default_output_plots_dir": "plot_dir",
                  "default_analysis_dir": "analysis_dir"}[name]
        return _default_folder(option)
    raise AttributeError(f"module 'enb' has no attribute {name!r}")


def _default_folder(name: str) -> str:
    from .config import OPTIONS, options
    return OPTIONS[name].default_in_project(options.project_root)


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | _COMPUTED)
