"""Tables that write a new version of every image of a dataset (enb 1.x's image versions).

Each is a :class:`enb.sets.FileVersionTable` (rows in parallel, a mirrored folder tree,
nothing half-written left behind) whose rows also hold the original's image geometry:
:class:`BIPToBSQ` and :class:`BILToBSQ` reorder samples, :class:`QuantizedImageVersion`
quantizes, :class:`DivisibleSizeVersion` crops to a multiple of a block size and
:class:`ReindexedVersion` maps the distinct sample values to 0, 1, 2, ...
"""
from __future__ import annotations

import json
import os

import numpy as np

from .. import sets
from .arrays import dump_array_bsq, load_array, load_array_bsq
from .tables import ImageGeometryTable
from .tags import SampleType, with_sample_type


class ImageVersionTable(sets.FileVersionTable, ImageGeometryTable):
    """A file version table of raw images: :meth:`version` gets each image's geometry in
    ``row``. ``original_properties_table`` (a table or a table class; default
    :class:`ImageGeometryTable`) describes the originals."""
    dataset_files_extension = "raw"

    def __init__(self, version_base_dir, version_name, original_base_dir=None,
                 csv_support_path=None, check_generated_files=True,
                 original_properties_table=None):
        if original_properties_table is None:
            original_properties_table = ImageGeometryTable(base_dir=original_base_dir)
        elif isinstance(original_properties_table, type):
            original_properties_table = original_properties_table(base_dir=original_base_dir)
        super().__init__(version_base_dir=version_base_dir, version_name=version_name,
                         original_properties_table=original_properties_table,
                         original_base_dir=original_base_dir,
                         csv_support_path=csv_support_path,
                         check_generated_files=check_generated_files)


class BIPToBSQ(ImageVersionTable):
    """Rewrite band-interleaved-by-pixel (``.bip``) images as band-sequential ``.raw`` ones."""
    dataset_files_extension = "bip"
    array_order = "bip"

    def __init__(self, version_base_dir, original_base_dir=None, csv_support_path=None,
                 original_properties_table=None):
        super().__init__(version_base_dir=version_base_dir, version_name=type(self).__name__,
                         original_base_dir=original_base_dir, csv_support_path=csv_support_path,
                         check_generated_files=False,
                         original_properties_table=original_properties_table)

    def version(self, input_path, output_path, row):
        stem, extension = os.path.splitext(output_path)
        if extension == f".{self.dataset_files_extension}":
            output_path = stem + ".raw"
        dump_array_bsq(load_array(input_path, image_properties_row=row, order=self.array_order),
                       output_path)


class BILToBSQ(BIPToBSQ):
    """Rewrite band-interleaved-by-line (``.bil``) images as band-sequential ``.raw`` ones."""
    dataset_files_extension = "bil"
    array_order = "bil"


class QuantizedImageVersion(ImageVersionTable):
    """Quantize every image uniformly: sample x becomes floor(x / qstep), same sample type."""
    dataset_files_extension = "raw"

    def __init__(self, version_base_dir, qstep, original_base_dir=None, csv_support_path=None,
                 check_generated_files=True, original_properties_table=None):
        if qstep != int(qstep) or not 1 <= qstep <= 65535:
            raise ValueError(f"qstep must be an integer from 1 to 65535, not {qstep!r}")
        self.qstep = int(qstep)
        super().__init__(version_base_dir=version_base_dir,
                         version_name=f"{type(self).__name__}_qstep{self.qstep}",
                         original_base_dir=original_base_dir, csv_support_path=csv_support_path,
                         check_generated_files=check_generated_files,
                         original_properties_table=original_properties_table)

    def version(self, input_path, output_path, row):
        image = load_array_bsq(input_path, image_properties_row=row)
        if image.dtype.kind not in "ui":
            raise ValueError(f"{input_path}: only integer samples can be quantized, not "
                             f"{image.dtype}")
        dump_array_bsq((image // self.qstep).astype(image.dtype), output_path)


class DivisibleSizeVersion(ImageVersionTable):
    """Crop every image so that its width and height are multiples of
    ``dimension_size_multiple`` (the geometry tag of the name follows)."""

    def __init__(self, version_base_dir, dimension_size_multiple, original_base_dir=None,
                 csv_support_path=None, original_properties_table=None):
        if dimension_size_multiple < 1:
            raise ValueError(f"dimension_size_multiple must be positive, not "
                             f"{dimension_size_multiple!r}")
        self.dimension_size_multiple = int(dimension_size_multiple)
        super().__init__(version_base_dir=version_base_dir, version_name="CropDimensionsMultiple",
                         original_base_dir=original_base_dir, csv_support_path=csv_support_path,
                         check_generated_files=False,
                         original_properties_table=original_properties_table)

    def version(self, input_path, output_path, row):
        image = load_array_bsq(input_path, image_properties_row=row)
        width, height, components = image.shape
        multiple = self.dimension_size_multiple
        if min(width, height) < multiple:
            raise ValueError(f"{input_path}: {width}x{height} is smaller than the multiple "
                             f"{multiple}")
        cropped_width, cropped_height = multiple * (width // multiple), \
            multiple * (height // multiple)
        name = os.path.basename(output_path).replace(
            f"{components}x{height}x{width}", f"{components}x{cropped_height}x{cropped_width}")
        dump_array_bsq(image[:cropped_width, :cropped_height, :],
                       os.path.join(os.path.dirname(output_path), name))


class ReindexedVersion(ImageVersionTable):
    """Map the N distinct sample values of each image to 0..N-1 (in order), stored as
    unsigned big-endian samples of ``width_bytes`` bytes; the name's type tag says so.

    Beside each version, ``<name>.meta`` (JSON) keeps the original sample type
    (``original_dtype``) and the distinct values (``unique_values``), which is what it takes
    to undo the mapping.
    """

    def __init__(self, version_base_dir, width_bytes, version_name="reindex",
                 original_base_dir=None, csv_support_path=None, original_properties_table=None):
        if width_bytes not in (1, 2, 4):
            raise ValueError(f"width_bytes must be 1, 2 or 4, not {width_bytes!r}")
        self.width_bytes = width_bytes
        super().__init__(version_base_dir=version_base_dir, version_name=version_name,
                         original_base_dir=original_base_dir, csv_support_path=csv_support_path,
                         check_generated_files=False,
                         original_properties_table=original_properties_table)

    def version(self, input_path, output_path, row):
        image = load_array_bsq(input_path, image_properties_row=row)
        if image.dtype.kind not in "ui":
            raise ValueError(f"{input_path}: only integer samples can be reindexed, not "
                             f"{image.dtype}")
        values = np.unique(image)
        if values.size > 2 ** (8 * self.width_bytes):
            raise ValueError(f"{input_path}: {values.size} distinct values do not fit in "
                             f"{self.width_bytes} byte(s)")
        index_type = SampleType(self.width_bytes, False, True, False)
        reindexed_path = os.path.join(os.path.dirname(output_path),
                                      with_sample_type(os.path.basename(output_path), index_type))
        dump_array_bsq(np.searchsorted(values, image).astype(index_type.dtype), reindexed_path)
        with open(f"{reindexed_path}.meta", "w", encoding="utf-8") as side_info:
            json.dump({"original_dtype": image.dtype.str,
                       "unique_values": [v.item() for v in values]}, side_info)
