"""One row of a compression experiment: compress a file with a codec, decompress it, time both.

A :class:`CompressionCycle` is made for every row (enb 1.x calls it
``CompressionDecompressionWrapper``). Column functions read its
:attr:`~CompressionCycle.compression_results` and
:attr:`~CompressionCycle.decompression_results`; the first read runs the codec (``repetitions``
times, keeping the fastest), so however many columns read them, each file is compressed and
decompressed once per row. The compressed and reconstructed files live in the row's own
temporary folder (:mod:`enb.compression.scratch`), on the machine that runs the row, and are
removed with it by :meth:`~CompressionCycle.close`.
"""
from __future__ import annotations

import logging
import os
import shutil
import time

from ..config import options
from .results import (CompressionException, CompressionResults, DecompressionException,
                      DecompressionResults)
from .scratch import RowFolder

logger = logging.getLogger(__name__)


class CompressionCycle:
    """The compression and decompression of one file by one codec.

    ``image_info_row``: the file's row of the dataset table (a dict-like object), given to the
    codec as ``original_file_info``. ``reconstructed_copy_dir`` and ``compressed_copy_dir``:
    when set, the reconstruction and the compressed file of the first repetition are copied
    to ``<dir>/<codec name>/<file name>`` (``.compressed`` added for the latter).
    """

    def __init__(self, file_path, codec, image_info_row, reconstructed_copy_dir=None,
                 compressed_copy_dir=None):
        self.file_path = file_path
        self.codec = codec
        self.image_info_row = image_info_row
        self.reconstructed_copy_dir = reconstructed_copy_dir
        self.compressed_copy_dir = compressed_copy_dir
        self.folder = RowFolder(prefix="enb-row-")
        self._compression_results: CompressionResults | None = None
        self._decompression_results: DecompressionResults | None = None

    @property
    def compression_results(self) -> CompressionResults:
        """Compress the file (on first access) and return the results."""
        if self._compression_results is None:
            self._compression_results = self._compress()
        return self._compression_results

    @property
    def decompression_results(self) -> DecompressionResults:
        """Decompress the compressed file (compressing first if needed); return the results."""
        if self._decompression_results is None:
            self._decompression_results = self._decompress()
        return self._decompression_results

    @property
    def numpy_dtype(self) -> str:
        """The numpy dtype of the original file's samples."""
        from ..isets import iproperties_row_to_numpy_dtype
        return iproperties_row_to_numpy_dtype(self.image_info_row)

    def original_array(self):
        """Return the original image as an [x, y, z] array (read once per row)."""
        if "_original" not in self.__dict__:
            from ..isets import load_array_bsq
            self._original = load_array_bsq(self.file_path,
                                            image_properties_row=self.image_info_row)
        return self._original

    def reconstructed_array(self):
        """Return the reconstruction as an [x, y, z] array (decompressing first if needed)."""
        if "_reconstructed" not in self.__dict__:
            from ..isets import load_array_bsq
            self._reconstructed = load_array_bsq(self.decompression_results.reconstructed_path,
                                                 image_properties_row=self.image_info_row)
        return self._reconstructed

    def close(self) -> None:
        """Remove the row's temporary files."""
        self.__dict__.pop("_original", None)
        self.__dict__.pop("_reconstructed", None)
        self.folder.close()

    # -- the work ------------------------------------------------------------------------
    def _compress(self) -> CompressionResults:
        name = os.path.basename(self.file_path)
        compressed_path = os.path.join(self.folder.path, f"compressed_{name}")
        times, memory, results = [], [], None
        for repetition in range(options.repetitions):
            _remove(compressed_path)
            started = time.perf_counter()
            results = self.codec.compress(original_path=self.file_path,
                                          compressed_path=compressed_path,
                                          original_file_info=self.image_info_row)
            wall = time.perf_counter() - started
            if not os.path.isfile(compressed_path) or os.path.getsize(compressed_path) == 0:
                raise CompressionException(
                    original_path=self.file_path, compressed_path=compressed_path,
                    output=f"{self.codec.name} wrote no compressed file (or an empty one)")
            if results is None:
                results = self.codec.compression_results_from_paths(
                    original_path=self.file_path, compressed_path=compressed_path)
            if results.compression_time_seconds is None:
                results.compression_time_seconds = wall
            times.append(results.compression_time_seconds)
            memory.append(results.maximum_memory_kb)
            if repetition == 0 and self.compressed_copy_dir:
                self._copy(compressed_path, self.compressed_copy_dir, f"{name}.compressed")
        # The fastest repetition is the one least disturbed by the rest of the machine.
        results.compression_time_seconds = min(times)
        results.maximum_memory_kb = max(kb if kb is not None else -1 for kb in memory)
        results.original_path, results.compressed_path = self.file_path, compressed_path
        return results

    def _decompress(self) -> DecompressionResults:
        compressed_path = self.compression_results.compressed_path
        name = os.path.basename(self.file_path)
        reconstructed_path = os.path.join(self.folder.path, f"reconstructed_{name}")
        times, memory, results = [], [], None
        for repetition in range(options.repetitions):
            _remove(reconstructed_path)
            started = time.perf_counter()
            results = self.codec.decompress(compressed_path=compressed_path,
                                            reconstructed_path=reconstructed_path,
                                            original_file_info=self.image_info_row)
            wall = time.perf_counter() - started
            if not os.path.isfile(reconstructed_path) or os.path.getsize(reconstructed_path) == 0:
                raise DecompressionException(
                    compressed_path=compressed_path, reconstructed_path=reconstructed_path,
                    output=f"{self.codec.name} wrote no reconstructed file (or an empty one) "
                           f"for {self.file_path}")
            if results is None:
                results = self.codec.decompression_results_from_paths(
                    compressed_path=compressed_path, reconstructed_path=reconstructed_path)
            if results.decompression_time_seconds is None:
                results.decompression_time_seconds = wall
            times.append(results.decompression_time_seconds)
            memory.append(results.maximum_memory_kb)
            if repetition == 0 and self.reconstructed_copy_dir:
                self._copy(reconstructed_path, self.reconstructed_copy_dir, name)
        results.decompression_time_seconds = min(times)
        results.maximum_memory_kb = max(kb if kb is not None else -1 for kb in memory)
        results.compressed_path, results.reconstructed_path = compressed_path, reconstructed_path
        return results

    def _copy(self, source: str, base_dir: str, name: str) -> None:
        """Copy a file of this row to ``base_dir/<codec name>/name``, replacing it whole."""
        target = os.path.join(base_dir, self.codec.name, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = f"{target}.partial-{os.getpid()}"
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        finally:
            _remove(partial)
        logger.debug("kept a copy of %s at %s", source, target)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
