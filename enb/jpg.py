"""enb 1.x's ``enb.jpg``: the same module as :mod:`enb.compression.jpg`."""
import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("enb.compression.jpg")
