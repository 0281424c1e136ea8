"""Image sets: raw images read and written as numpy arrays, and tables of their properties.

enb 1.x's ``enb.isets`` (needs ``enb[compression]``, i.e. numpy). Raw images carry their
geometry and sample type in their names (``u16be-3x600x800``, :mod:`enb.isets.tags`);
:mod:`enb.isets.arrays` reads and writes them indexed ``[x, y, z]``; :mod:`enb.isets.tables`
has the property tables and :mod:`enb.isets.versions` the tables that write new versions of
a dataset (BIP/BIL to BSQ, quantized, cropped, reindexed).
"""
from __future__ import annotations

import importlib

try:
    import numpy as _numpy  # noqa: F401 -- fail here, with the remedy, rather than deep inside
except ImportError as _ex:  # pragma: no cover -- depends on the installation
    raise ImportError("enb.isets needs numpy: pip install 'enb[compression]'") from _ex

from .arrays import (dump_array, dump_array_bil, dump_array_bip, dump_array_bsq,  # noqa: F401
                     load_array, load_array_bil, load_array_bip, load_array_bsq)
from .stats import entropy, kl_divergence, mutual_information  # noqa: F401
from .tables import (BandEntropyTable, HistogramFullnessTable1Byte,  # noqa: F401
                     HistogramFullnessTable2Bytes, HistogramFullnessTable4Bytes,
                     ImageDistributionTable, ImageGeometryTable, ImagePropertiesTable,
                     SampleDistributionTable)
from . import tags  # noqa: F401
from .tags import (ImageGeometryError, SampleType, _file_path_to_datatype_dict,  # noqa: F401
                   dtype_float_tags, dtype_integer_tags, dtype_tags, file_path_to_geometry_dict,
                   iproperties_row_to_geometry_tag, iproperties_row_to_numpy_dtype,
                   iproperties_row_to_sample_type_tag, iproperties_to_name_tag,
                   with_sample_type)

#: Names enb 1.x also exposes here, defined in modules loaded when first asked for (they need
#: the file version tables, Pillow or astropy).
_ELSEWHERE = {
    "ImageVersionTable": "enb.isets.versions", "BIPToBSQ": "enb.isets.versions",
    "BILToBSQ": "enb.isets.versions", "QuantizedImageVersion": "enb.isets.versions",
    "DivisibleSizeVersion": "enb.isets.versions", "ReindexedVersion": "enb.isets.versions",
    "PNGCurationTable": "enb.compression.png", "raw_path_to_png": "enb.compression.png",
    "render_array_png": "enb.compression.png", "FITSVersionTable": "enb.compression.fits",
}


def __getattr__(name: str):
    if name in _ELSEWHERE:
        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module 'enb.isets' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_ELSEWHERE))
