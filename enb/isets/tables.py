"""Tables of image properties: geometry from the name, sample statistics, entropy (enb 1.x)."""
from __future__ import annotations

import numpy as np

from .. import atable, sets
from .arrays import load_array_bsq
from .stats import entropy
from .tags import ImageGeometryError, file_path_to_geometry_dict, sample_type_from_name


def _sample_type(file_path):
    return sample_type_from_name(file_path)


def _python_scalar(value):
    """Return a numpy scalar as the Python number it holds (so that the CSV stores a literal)."""
    return value.item() if hasattr(value, "item") else value


class ImageGeometryTable(sets.FilePropertiesTable):
    """File properties plus the image's sample type and geometry, read from its name.

    Names carry tags such as ``u16be-3x600x800`` (see :mod:`enb.isets.tags`). With
    ``verify_file_size`` (default), a file whose size does not match its tags is an error.
    """
    dataset_files_extension = "raw"
    verify_file_size = True

    @atable.column_function("bytes_per_sample", label="Bytes per sample", plot_min=0)
    def set_bytes_per_sample(self, file_path, row):
        """Read the sample size from the type tag of the file's name."""
        sample_type = _sample_type(file_path)
        if sample_type is None:
            raise ImageGeometryError(
                f"{type(self).__name__}: {file_path}: the name has no sample type tag (u8be, "
                f"u16be, s16le, f32, ...). Raw files need their sample type and geometry in "
                f"the name, e.g. image-u16be-3x600x800.raw (components x height x width)")
        row["bytes_per_sample"] = sample_type.bytes_per_sample

    @atable.column_function("float", label="Floating point data?")
    def set_float(self, file_path, row):
        sample_type = _sample_type(file_path)
        row["float"] = bool(sample_type and sample_type.float)

    @atable.column_function("signed", label="Signed samples")
    def set_signed(self, file_path, row):
        sample_type = _sample_type(file_path)
        row["signed"] = bool(sample_type and sample_type.signed)

    @atable.column_function("big_endian", label="Big endian?")
    def set_big_endian(self, file_path, row):
        sample_type = _sample_type(file_path)
        row["big_endian"] = bool(sample_type and sample_type.big_endian)

    @atable.column_function("dtype", label="Numpy dtype")
    def set_column_dtype(self, file_path, row):
        """Set the numpy dtype string of the samples (``>u2``; floats: ``f4``, native order)."""
        if row["float"]:
            row["dtype"] = f"f{row['bytes_per_sample']}"
        else:
            row["dtype"] = f"{'>' if row['big_endian'] else '<'}" \
                           f"{'i' if row['signed'] else 'u'}{row['bytes_per_sample']}"

    @atable.column_function("type_name", label="Type name usable in file names")
    def set_type_name(self, file_path, row):
        if row["float"]:
            row["type_name"] = f"f{8 * row['bytes_per_sample']}"
        else:
            row["type_name"] = f"{'s' if row['signed'] else 'u'}{8 * row['bytes_per_sample']}" \
                               f"{'be' if row['big_endian'] else 'le'}"

    @atable.column_function("samples", label="Sample count", plot_min=0)
    def set_samples(self, file_path, row):
        if row["size_bytes"] % row["bytes_per_sample"]:
            raise ImageGeometryError(f"{file_path}: {row['size_bytes']} bytes is not a whole "
                                     f"number of {row['bytes_per_sample']}-byte samples")
        row["samples"] = row["size_bytes"] // row["bytes_per_sample"]

    @atable.column_function([
        atable.ColumnProperties(name="width", label="Width", plot_min=1),
        atable.ColumnProperties(name="height", label="Height", plot_min=1),
        atable.ColumnProperties(name="component_count", label="Components", plot_min=1),
    ])
    def set_image_geometry(self, file_path, row):
        """Read width, height and components from the ``ZxYxX`` tag of the file's name."""
        geometry = {}
        file_path_to_geometry_dict(file_path, existing_dict=geometry,
                                   verify_file_size=self.verify_file_size)
        if "width" not in geometry:
            raise ImageGeometryError(
                f"{type(self).__name__}: {file_path}: the name has no geometry tag; add one "
                f"such as 3x600x800 (components x height x width)")
        for name in ("width", "height", "component_count"):
            row[name] = geometry[name]


class ImagePropertiesTable(ImageGeometryTable):
    """Image geometry plus sample statistics: extrema, distinct values, dynamic range, entropy."""
    dataset_files_extension = "raw"

    @atable.column_function([
        atable.ColumnProperties(name="unique_sample_count",
                                label="Number of different sample values"),
        atable.ColumnProperties(name="sample_min", label="Min sample value"),
        atable.ColumnProperties(name="sample_max", label="Max sample value")])
    def set_sample_stats(self, file_path, row):
        values = np.unique(load_array_bsq(file_or_path=file_path, image_properties_row=row))
        row["unique_sample_count"] = int(values.size)
        low, high = _python_scalar(values[0]), _python_scalar(values[-1])
        if not row["float"]:
            low, high = int(low), int(high)
        row["sample_min"], row["sample_max"] = low, high

    @atable.column_function("dynamic_range_bits", label="Dynamic range (bits)")
    def set_dynamic_range_bits(self, file_path, row):
        """Set the fewest bits B that hold every sample: [0, 2^B - 1] unsigned,
        [-2^(B-1), 2^(B-1) - 1] signed (at least 1), 8 x bytes per sample for floats."""
        if row["float"]:
            return 8 * row["bytes_per_sample"]
        low, high = int(row["sample_min"]), int(row["sample_max"])
        if not row["signed"]:
            return max(1, high.bit_length())
        bits = 1
        while not -(1 << (bits - 1)) <= low <= high <= (1 << (bits - 1)) - 1:
            bits += 1
        return bits

    @atable.column_function([
        atable.ColumnProperties(f"entropy_{b}B_bps",
                                label=f"Entropy (bits, {b}-byte samples)",
                                plot_min=0, plot_max=8 * b)
        for b in (1, 2, 4)])
    def set_file_entropy(self, file_path, row):
        """Set the zero-order entropy of the file read as 1-, 2- and 4-byte samples (-1 when
        the sample size is not a multiple of that)."""
        for b in (1, 2, 4):
            column = f"entropy_{b}B_bps"
            if row["bytes_per_sample"] % b:
                row[column] = -1
            else:
                row[column] = entropy(np.fromfile(file_path, dtype=f"u{b}"))


class SampleDistributionTable(ImageGeometryTable):
    """The probability of every sample value of each image."""

    @atable.column_function([atable.ColumnProperties(
        "sample_distribution", label="Sample probability distribution", plot_min=0, plot_max=1,
        has_dict_values=True)])
    def set_sample_distribution(self, file_path, row):
        image = load_array_bsq(file_or_path=file_path, image_properties_row=row)
        values, counts = np.unique(image, return_counts=True)
        row["sample_distribution"] = {_python_scalar(v): float(c) / image.size
                                      for v, c in zip(values, counts)}


class ImageDistributionTable(ImagePropertiesTable, SampleDistributionTable):
    """Image properties and the sample distribution."""


class _HistogramFullnessTable(atable.ATable):
    dataset_files_extension = "raw"
    _bytes = 1

    def _fullness(self, file_path) -> float:
        values = np.fromfile(file_path, dtype=f"u{self._bytes}")
        return np.unique(values).size / float(2 ** (8 * self._bytes))


class HistogramFullnessTable1Byte(_HistogramFullnessTable):
    """The fraction of the 256 1-byte values that each file uses."""
    _bytes = 1

    @atable.column_function("histogram_fullness_1byte",
                            label="Histogram usage fraction (1 byte)", plot_min=0, plot_max=1)
    def set_histogram_fullness_1byte(self, file_path, row):
        row["histogram_fullness_1byte"] = self._fullness(file_path)


class HistogramFullnessTable2Bytes(_HistogramFullnessTable):
    """The fraction of the 65536 2-byte values that each file uses."""
    _bytes = 2

    @atable.column_function("histogram_fullness_2bytes",
                            label="Histogram usage fraction (2 bytes)", plot_min=0, plot_max=1)
    def set_histogram_fullness_2bytes(self, file_path, row):
        row["histogram_fullness_2bytes"] = self._fullness(file_path)


class HistogramFullnessTable4Bytes(_HistogramFullnessTable):
    """The fraction of the 2^32 4-byte values that each file uses."""
    _bytes = 4

    @atable.column_function("histogram_fullness_4bytes",
                            label="Histogram usage fraction (4 bytes)", plot_min=0, plot_max=1)
    def set_histogram_fullness_4bytes(self, file_path, row):
        row["histogram_fullness_4bytes"] = self._fullness(file_path)


class BandEntropyTable(ImageGeometryTable):
    """The zero-order entropy of each band (component) of each image."""

    @atable.column_function("entropy_per_band", label="Entropy per band", has_dict_values=True)
    def set_entropy_per_band(self, file_path, row):
        array = load_array_bsq(file_or_path=file_path, image_properties_row=row)
        row["entropy_per_band"] = {z: entropy(array[:, :, z])
                                   for z in range(row["component_count"])}
