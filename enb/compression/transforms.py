"""Codecs that transform the samples and let another codec compress the result.

:class:`QuantizationWrapperCodec` quantizes uniformly before compressing (a near-lossless
codec out of a lossless one); :class:`ReindexWrapper` maps the distinct sample values to
0, 1, 2, ... before compressing. Both read the image with its properties row, or with the
tags of its name when called without one (as enb 1.x's tests do). The wrapped codec gets
files named like the original (same tags), in a folder removed afterwards.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time

import numpy as np

from .. import isets
from .codec import AbstractCodec, NearLosslessCodec
from .scratch import scratch_dir


@contextlib.contextmanager
def _work_folder():
    folder = tempfile.mkdtemp(prefix="enb-codec-", dir=scratch_dir())
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _load(path, info):
    return isets.load_array_bsq(path, image_properties_row=info)


def _add_time(results, seconds, field):
    """Add ``seconds`` of our own work to what the wrapped codec measured (if it did)."""
    if results is not None and getattr(results, field, None) is not None:
        setattr(results, field, getattr(results, field) + seconds)
    return results


class QuantizationWrapperCodec(NearLosslessCodec):
    """Quantize uniformly with step ``qstep``, then compress with ``codec``.

    Sample x becomes floor(x / qstep); decompression reconstructs the middle of its interval,
    q * qstep + qstep // 2, clipped to the sample type's range: the error of every sample is
    at most qstep // 2. Integer samples only.
    """

    def __init__(self, codec: AbstractCodec, qstep: int):
        if int(qstep) != qstep or qstep < 1:
            raise ValueError(f"the quantization step must be an integer of at least 1, "
                             f"not {qstep!r}")
        super().__init__(param_dict=dict(codec_name=codec.name, qstep=int(qstep)))
        self.codec = codec

    @property
    def name(self) -> str:
        return f"{self.codec.name}_qstep={self.param_dict['qstep']}"

    @property
    def label(self) -> str:
        return f"{self.codec.label}, Q$_\\mathrm{{step}}=${self.param_dict['qstep']}"

    def compress(self, original_path: str, compressed_path: str, original_file_info=None):
        started = time.process_time()
        image = _load(original_path, original_file_info)
        if image.dtype.kind not in "ui":
            raise ValueError(f"{self.name}: {original_path}: only integer samples can be "
                             f"quantized, not {image.dtype}")
        quantized = image // self.param_dict["qstep"]
        with _work_folder() as folder:
            quantized_path = os.path.join(folder, os.path.basename(original_path))
            isets.dump_array_bsq(quantized.astype(image.dtype), quantized_path)
            own = time.process_time() - started
            results = self.codec.compress(quantized_path, compressed_path, original_file_info)
        if results is not None:
            results.original_path = original_path
        return _add_time(results, own, "compression_time_seconds")

    def decompress(self, compressed_path: str, reconstructed_path: str,
                   original_file_info=None):
        with _work_folder() as folder:
            quantized_path = os.path.join(folder, os.path.basename(reconstructed_path))
            results = self.codec.decompress(compressed_path, quantized_path, original_file_info)
            started = time.process_time()
            quantized = _load(quantized_path, original_file_info)
        qstep = self.param_dict["qstep"]
        limits = np.iinfo(quantized.dtype)
        reconstructed = np.clip(quantized.astype(np.int64) * qstep + qstep // 2,
                                limits.min, limits.max).astype(quantized.dtype)
        isets.dump_array_bsq(reconstructed, reconstructed_path)
        if results is not None:
            results.reconstructed_path = reconstructed_path
        return _add_time(results, time.process_time() - started, "decompression_time_seconds")


class ReindexWrapper(AbstractCodec):
    """Map the N distinct sample values to 0..N-1 (keeping their order), store them as
    unsigned big-endian samples of ``width_bytes`` bytes, and compress those with ``codec``.

    The compressed file is a tarlite archive of the value table (JSON) and the wrapped
    codec's output. Integer samples only; N must fit in ``width_bytes``.
    """

    def __init__(self, codec: AbstractCodec, width_bytes: int):
        if width_bytes not in (1, 2, 4):
            raise ValueError(f"width_bytes must be 1, 2 or 4, not {width_bytes!r}")
        super().__init__(param_dict={"width_bytes": width_bytes})
        self.codec = codec

    @property
    def name(self) -> str:
        return f"{self.codec.name}_reindex{self.param_dict['width_bytes']}B"

    @property
    def label(self) -> str:
        return f"Reindex {self.param_dict['width_bytes']}B + {self.codec.label}"

    def compress(self, original_path: str, compressed_path: str, original_file_info=None):
        from .. import tarlite
        started = time.process_time()
        width = self.param_dict["width_bytes"]
        image = _load(original_path, original_file_info)
        if image.dtype.kind not in "ui":
            raise ValueError(f"{self.name}: {original_path}: only integer samples can be "
                             f"reindexed, not {image.dtype}")
        values = np.unique(image)
        if values.size > 2 ** (8 * width):
            raise ValueError(f"{self.name}: {original_path} has {values.size} distinct values, "
                             f"more than {width} byte(s) can index")
        indices = np.searchsorted(values, image).astype(f">u{width}")
        index_type = isets.SampleType(width, False, True, False)
        info = None
        if original_file_info is not None:
            info = dict(original_file_info)
            info.update(bytes_per_sample=width, signed=False, big_endian=True, float=False,
                        dtype=index_type.dtype)
        with _work_folder() as folder:
            indices_path = os.path.join(folder, isets.tags.with_sample_type(
                f"reindexed_{os.path.basename(original_path)}", index_type))
            isets.dump_array_bsq(indices, indices_path)
            side_info_path = os.path.join(folder, "side_info")
            with open(side_info_path, "w", encoding="utf-8") as handle:
                json.dump({"original_dtype": image.dtype.str,
                           "unique_values": [int(v) for v in values]}, handle)
            data_path = os.path.join(folder, "data")
            own = time.process_time() - started
            results = self.codec.compress(indices_path, data_path, info)
            tarlite.tarlite_files([side_info_path, data_path], compressed_path)
        if results is None:
            return None
        results.original_path, results.compressed_path = original_path, compressed_path
        return _add_time(results, own, "compression_time_seconds")

    def decompress(self, compressed_path: str, reconstructed_path: str,
                   original_file_info=None):
        from .. import tarlite
        width = self.param_dict["width_bytes"]
        with _work_folder() as folder:
            tarlite.untarlite_files(compressed_path, folder)
            with open(os.path.join(folder, "side_info"), encoding="utf-8") as handle:
                side_info = json.load(handle)
            indices_path = os.path.join(folder, "reindexed")
            results = self.codec.decompress(os.path.join(folder, "data"), indices_path,
                                            original_file_info)
            started = time.process_time()
            indices = np.fromfile(indices_path, dtype=f">u{width}")
        values = np.asarray(side_info["unique_values"], dtype=np.int64)
        if indices.size and int(indices.max()) >= values.size:
            raise ValueError(f"{self.name}: {compressed_path}: an index exceeds the "
                             f"{values.size} stored values (corrupt data)")
        values[indices].astype(side_info["original_dtype"]).tofile(reconstructed_path)
        if results is not None:
            results.compressed_path, results.reconstructed_path = compressed_path, \
                reconstructed_path
        return _add_time(results, time.process_time() - started, "decompression_time_seconds")
