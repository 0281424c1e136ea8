"""enb 1.x's ``enb.icompression``: the same module as :mod:`enb.compression.icompression`."""
import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("enb.compression.icompression")
