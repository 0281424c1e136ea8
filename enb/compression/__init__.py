"""Data compression experiments (enb 1.x's ``enb.compression``; needs ``enb[compression]``).

- :mod:`~enb.compression.codec`: the codec classes (lossless, lossy, near-lossless);
- :mod:`~enb.compression.wrapper`: codecs that run external programs, and codecs that
  transform samples for another codec (quantization, reindexing);
- :mod:`~enb.compression.experiment`: :class:`CompressionExperiment` and the lossless ones;
- :mod:`~enb.compression.icompression`: lossy experiments (MSE, PSNR, SSIM, spectral angle);
- :mod:`~enb.compression.pgm`, :mod:`~enb.compression.png`, :mod:`~enb.compression.jpg`,
  :mod:`~enb.compression.fits`: image formats, their wrapper codecs and curation tables.

``import enb`` does not load this package; ``enb.compression`` (or ``enb.icompression``)
does, on first use.
"""
from __future__ import annotations

import importlib

from . import codec, experiment, icompression, results, wrapper  # noqa: F401
from .experiment import (CompressionExperiment, GeneralLosslessExperiment,  # noqa: F401
                         GenericFilePropertiesTable, LosslessCompressionExperiment)
from .results import (CompressionException, CompressionResults,  # noqa: F401
                      DecompressionException, DecompressionResults)

#: Submodules loaded on first use (they need Pillow, astropy or the tarlite module).
_LAZY_SUBMODULES = ("pgm", "png", "jpg", "fits", "tarlite", "metrics", "netpbm", "cycle",
                    "scratch", "transforms", "curation")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'enb.compression' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
