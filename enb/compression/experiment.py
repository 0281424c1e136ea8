"""Compression experiments: every dataset file compressed and decompressed by every codec.

The rows of a :class:`CompressionExperiment` are (file, codec) pairs. Inside each row's column
functions, ``self.codec_results`` is that row's :class:`~enb.compression.cycle.CompressionCycle`
(enb 1.x's ``CompressionDecompressionWrapper``): reading its ``compression_results`` or
``decompression_results`` runs the codec once for all the row's columns. The row's temporary
files are removed when the row ends, whether it succeeded or not (``row_scope``).

Columns, as in enb 1.x: compressed size, compression ratio (also against the dynamic range),
bits per sample (bpppc), lossless check, compression and decompression time and memory,
repetitions, the compressed file's sha256, and the compression efficiency against the file's
1-, 2- and 4-byte entropy. :class:`LosslessCompressionExperiment` fails a row whose
reconstruction differs from its original; the lossy metrics are in
:mod:`enb.compression.icompression`.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import os

from .. import atable, experiment, isets
from ..config import options
from . import codec as codec_module
from .cycle import CompressionCycle
from .results import CompressionException

logger = logging.getLogger(__name__)


def first_difference(path_a: str, path_b: str, block_size: int = 1 << 20) -> int | None:
    """Return the offset of the first byte where two files differ (None if they are equal)."""
    with open(path_a, "rb") as a, open(path_b, "rb") as b:
        offset = 0
        while True:
            block_a, block_b = a.read(block_size), b.read(block_size)
            if block_a != block_b:
                common = min(len(block_a), len(block_b))
                for i in range(common):
                    if block_a[i] != block_b[i]:
                        return offset + i
                return offset + common
            if not block_a:
                return None
            offset += len(block_a)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CompressionExperiment(experiment.Experiment):
    """Compress and decompress every dataset file with every codec, and measure it."""
    dataset_files_extension = "raw"
    default_file_properties_table_class = isets.ImagePropertiesTable
    row_wrapper_column_name = "_codec_wrapper"
    #: The class made for each row (enb 1.x name; subclasses may replace it).
    CompressionDecompressionWrapper = CompressionCycle

    def __init__(self, codecs, dataset_paths=None, csv_experiment_path=None,
                 csv_dataset_path=None, dataset_info_table=None,
                 overwrite_file_properties=False, reconstructed_dir_path=None,
                 compressed_copy_dir_path=None, task_families=None):
        """``codecs``: the codec instances (the experiment's tasks). ``reconstructed_dir_path``
        and ``compressed_copy_dir_path``: folders that keep a copy of every reconstruction
        and compressed file (default: ``--reconstructed_dir`` and ``--compressed_copy_dir``).
        The other arguments are :class:`enb.experiment.Experiment`'s."""
        codecs = list(codecs or ())
        if not codecs:
            raise ValueError(f"{type(self).__name__}: no codecs were given; an experiment "
                             f"needs at least one")
        strangers = [c for c in codecs if not isinstance(c, codec_module.AbstractCodec)]
        if strangers:
            logger.warning("%s: %d codec(s) do not inherit from "
                           "enb.compression.codec.AbstractCodec: %s", type(self).__name__,
                           len(strangers), ", ".join(repr(c) for c in strangers))
        table_class = type(dataset_info_table) if dataset_info_table is not None and \
            not isinstance(dataset_info_table, type) else \
            dataset_info_table or self.default_file_properties_table_class
        if csv_dataset_path is None:
            csv_dataset_path = os.path.join(options.resolved_persistence_dir(),
                                            f"persistence_{table_class.__name__}.csv")
        super().__init__(tasks=codecs, dataset_paths=dataset_paths,
                         csv_experiment_path=csv_experiment_path,
                         csv_dataset_path=csv_dataset_path,
                         dataset_info_table=dataset_info_table or table_class,
                         overwrite_file_properties=overwrite_file_properties,
                         task_families=task_families)
        self.reconstructed_dir_path = reconstructed_dir_path
        self.compressed_copy_dir_path = compressed_copy_dir_path
        #: The running row's CompressionCycle (None between rows).
        self.codec_results: CompressionCycle | None = None

    # -- codecs (enb 1.x names for the tasks) ---------------------------------------------
    @property
    def codecs(self):
        return self.tasks_by_name.values()

    @codecs.setter
    def codecs(self, new_codecs):
        self.tasks = list(new_codecs)
        self.tasks_by_name = collections.OrderedDict((c.name, c) for c in self.tasks)

    @property
    def codecs_by_name(self):
        return self.tasks_by_name

    @property
    def compression_results(self):
        """The running row's compression results (compressing on first access)."""
        return self.codec_results.compression_results if self.codec_results else None

    @property
    def decompression_results(self):
        """The running row's decompression results (decompressing on first access)."""
        return self.codec_results.decompression_results if self.codec_results else None

    # -- one row -------------------------------------------------------------------------
    def get_image_info_row(self, file_path) -> dict:
        """Return the dataset table's row of ``file_path`` as a dict (cached per process)."""
        rows = self.__dict__.get("_image_info_rows")
        if rows is None:
            rows = self.__dict__["_image_info_rows"] = \
                self.get_dataset_df().to_dict(orient="index")
        found = rows.get(str((file_path,)))
        if found is None:
            found = rows.get(atable.indices_to_internal_loc(file_path))
        if found is None:
            raise KeyError(f"{type(self).__name__}: {file_path} is not in the dataset table")
        return found

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_image_info_rows", None)
        return state

    @contextlib.contextmanager
    def row_scope(self, index, row):
        """Give the row's column functions a CompressionCycle; remove its files afterwards."""
        file_path, codec_name = index
        try:
            codec = self.codecs_by_name[codec_name]
        except KeyError:
            raise KeyError(f"{type(self).__name__}: no codec named {codec_name!r} in this "
                           f"experiment (codecs: {', '.join(self.codecs_by_name)})") from None
        self.codec_results = self.CompressionDecompressionWrapper(
            file_path=file_path, codec=codec, image_info_row=self.get_image_info_row(file_path),
            reconstructed_copy_dir=self.reconstructed_dir_path or options.reconstructed_dir,
            compressed_copy_dir=self.compressed_copy_dir_path
            or options.compressed_copy_dir)
        try:
            yield self.codec_results
        finally:
            cycle, self.codec_results = self.codec_results, None
            close = getattr(cycle, "close", None)
            if close is not None:
                close()

    def _info(self, index) -> dict:
        return self.get_image_info_row(index[0])

    # -- columns -------------------------------------------------------------------------
    @atable.column_function("compressed_size_bytes", label="Compressed data size (Bytes)",
                            plot_min=0)
    def set_compressed_data_size(self, index, row):
        row["compressed_size_bytes"] = os.path.getsize(
            self.codec_results.compression_results.compressed_path)

    @atable.column_function([
        atable.ColumnProperties(name="compression_ratio", label="Compression ratio", plot_min=0),
        atable.ColumnProperties(name="lossless_reconstruction", label="Lossless?"),
        atable.ColumnProperties(name="compression_time_seconds",
                                label="Compression time (s)", plot_min=0),
        atable.ColumnProperties(name="decompression_time_seconds",
                                label="Decompression time (s)", plot_min=0),
        atable.ColumnProperties(name="repetitions",
                                label="Number of compression/decompression repetitions",
                                plot_min=0),
        atable.ColumnProperties(name="compressed_file_sha256", label="Compressed file's SHA256"),
        atable.ColumnProperties(name="compression_memory_kb",
                                label="Compression memory usage (KB)", plot_min=0),
        atable.ColumnProperties(name="decompression_memory_kb",
                                label="Decompression memory usage (KB)", plot_min=0),
    ])
    def set_comparison_results(self, index, row):
        """Compress and decompress (once), then compare the reconstruction with the original."""
        cycle = self.codec_results
        compression, decompression = cycle.compression_results, cycle.decompression_results
        original_size = os.path.getsize(compression.original_path)
        row["lossless_reconstruction"] = first_difference(
            compression.original_path, decompression.reconstructed_path) is None
        row["compression_time_seconds"] = compression.compression_time_seconds
        row["decompression_time_seconds"] = decompression.decompression_time_seconds
        row["repetitions"] = options.repetitions
        row["compression_ratio"] = original_size / row["compressed_size_bytes"]
        row["compressed_file_sha256"] = file_sha256(compression.compressed_path)
        row["compression_memory_kb"] = compression.maximum_memory_kb
        row["decompression_memory_kb"] = decompression.maximum_memory_kb

    @atable.column_function("bpppc", label="Compressed data rate (bpppc)", plot_min=0)
    def set_bpppc(self, index, row):
        """Set the compressed bits per sample (per pixel per component)."""
        info = self._info(index)
        if "samples" not in info:
            raise KeyError(f"bpppc needs the dataset table's 'samples' column, which "
                           f"{type(self.dataset_info_table).__name__} has not")
        row["bpppc"] = 8 * row["compressed_size_bytes"] / info["samples"]

    @atable.column_function("compression_ratio_dr", label="Compression ratio (dynamic range)",
                            plot_min=0)
    def set_compression_ratio_dr(self, index, row):
        """Set the compression ratio against the dynamic range (not 8 x bytes per sample)."""
        info = self._info(index)
        row["compression_ratio_dr"] = info["dynamic_range_bits"] * info["samples"] \
            / (8 * row["compressed_size_bytes"])

    @atable.column_function([
        atable.ColumnProperties(name=f"compression_efficiency_{b}byte_entropy",
                                label=f"Compression efficiency ({b}-byte entropy)",
                                plot_min=0, plot_max=b) for b in (1, 2, 4)])
    def set_efficiency(self, index, row):
        """Set how close the compressed size comes to the file's zero-order entropy, for 1-,
        2- and 4-byte samples (-1 where that entropy is unknown)."""
        info = self._info(index)
        for b in (1, 2, 4):
            column = f"compression_efficiency_{b}byte_entropy"
            entropy = info.get(f"entropy_{b}B_bps")
            if entropy is None or "size_bytes" not in info:
                row[column] = -1
                continue
            value = entropy * (info["size_bytes"] / b) / (row["compressed_size_bytes"] * 8)
            row[column] = value if value >= 0 else -1


class LosslessCompressionExperiment(CompressionExperiment):
    """A compression experiment whose rows fail when a reconstruction is not exact."""

    @atable.redefines_column
    def set_comparison_results(self, index, row):
        super().set_comparison_results(index=index, row=row)
        if not row["lossless_reconstruction"]:
            cycle = self.codec_results
            original = cycle.compression_results.original_path
            reconstructed = cycle.decompression_results.reconstructed_path
            offset = first_difference(original, reconstructed)
            raise CompressionException(
                original_path=index[0], file_info=row,
                output=f"{cycle.codec.name} did not reconstruct {index[0]} losslessly: the "
                       f"reconstruction ({os.path.getsize(reconstructed)} bytes) differs from "
                       f"the original ({os.path.getsize(original)} bytes) from byte {offset} on")


class GenericFilePropertiesTable(isets.ImagePropertiesTable):
    """File properties of any file, read as a row of unsigned bytes (1 x 1 x size)."""
    verify_file_size = False

    @atable.column_function([
        atable.ColumnProperties(name="unique_sample_count",
                                label="Number of different sample values"),
        atable.ColumnProperties(name="sample_min", label="Min sample value (byte samples)"),
        atable.ColumnProperties(name="sample_max", label="Max sample value (byte samples)")])
    def set_sample_stats(self, file_path, row):
        import numpy as np
        values = np.unique(np.fromfile(file_path, dtype=np.uint8))
        row["unique_sample_count"] = int(values.size)
        row["sample_min"] = int(values[0]) if values.size else 0
        row["sample_max"] = int(values[-1]) if values.size else 0

    @atable.column_function("bytes_per_sample", label="Bytes per sample", plot_min=0)
    def set_bytes_per_sample(self, file_path, row):
        row["bytes_per_sample"] = 1

    @atable.column_function([
        atable.ColumnProperties(name="width", label="Width", plot_min=1),
        atable.ColumnProperties(name="height", label="Height", plot_min=1),
        atable.ColumnProperties(name="component_count", label="Components", plot_min=1),
        atable.ColumnProperties(name="big_endian"),
        atable.ColumnProperties(name="float"),
    ])
    def set_image_geometry(self, file_path, row):
        """Every file is one row of bytes: width = size, height = components = 1."""
        row["height"] = 1
        row["width"] = os.path.getsize(file_path)
        row["component_count"] = 1
        row["big_endian"] = True
        row["float"] = False


class GeneralLosslessExperiment(LosslessCompressionExperiment):
    """A lossless experiment on files of any kind (every file under the dataset folder)."""
    default_file_properties_table_class = GenericFilePropertiesTable
    dataset_files_extension = ""
