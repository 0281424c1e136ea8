"""enb 1.x's ``enb.compression.tarlite``: the same module as :mod:`enb.tarlite`."""
import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("enb.tarlite")
