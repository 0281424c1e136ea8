#!/usr/bin/env python3
"""JPEG 2000, through OpenJPEG's ``opj_compress`` and ``opj_decompress`` (Debian package
``libopenjp2-tools``).

The raw image goes to opj_compress as it is (8- or 16-bit samples, signed or unsigned, any
number of components, band after band), and comes back from opj_decompress the same way.
"""
import os

import numpy as np

import enb.compression.codec
import enb.compression.wrapper
from enb import isets
from enb.compression.scratch import scratch_dir

__all__ = ["JPEG2000"]


class JPEG2000(enb.compression.codec.LosslessCodec, enb.compression.codec.LossyCodec,
               enb.compression.wrapper.WrapperCodec):
    """JPEG 2000 (Part 1) codestreams: lossless (reversible 5/3 wavelet) by default, or lossy
    (irreversible 9/7 wavelet) at ``compression_ratio``:1."""
    debian_package = "libopenjp2-tools"

    def __init__(self, compression_ratio=None,
                 compressor_path="opj_compress",
                 decompressor_path="opj_decompress"):
        params = {}
        if compression_ratio is not None:
            if compression_ratio <= 1:
                raise ValueError(f"JPEG2000: compression_ratio must be above 1, not "
                                 f"{compression_ratio!r} (leave it out for lossless)")
            params["compression_ratio"] = compression_ratio
        super().__init__(compressor_path=compressor_path, decompressor_path=decompressor_path,
                         param_dict=params)

    @staticmethod
    def _check(info):
        if info is None:
            raise ValueError("JPEG2000 needs the image's properties (original_file_info)")
        if info.get("float", False) or int(info["bytes_per_sample"]) > 2:
            raise ValueError(f"JPEG2000: opj_compress reads 8- and 16-bit integer samples, not "
                             f"{isets.iproperties_row_to_sample_type_tag(info)}")

    def compress(self, original_path, compressed_path, original_file_info=None):
        self._check(original_file_info)
        # opj_compress reads .raw as big-endian and .rawl as little-endian, and wants the
        # codestream's name to end in .j2k.
        name = os.path.basename(original_path)
        raw_path = os.path.join(scratch_dir(), name + (
            ".raw" if original_file_info["big_endian"] or
            int(original_file_info["bytes_per_sample"]) == 1 else ".rawl"))
        codestream_path = os.path.join(scratch_dir(), name + ".j2k")
        try:
            os.symlink(os.path.abspath(original_path), raw_path)
            results = super().compress(raw_path, codestream_path, original_file_info)
            os.replace(codestream_path, compressed_path)
        finally:
            for path in (raw_path, codestream_path):
                if os.path.lexists(path):
                    os.remove(path)
        results.original_path, results.compressed_path = original_path, compressed_path
        return results

    def decompress(self, compressed_path, reconstructed_path, original_file_info=None):
        self._check(original_file_info)
        name = os.path.basename(reconstructed_path)
        codestream_path = os.path.join(scratch_dir(), name + ".j2k")
        raw_path = os.path.join(scratch_dir(), name + ".rawl")  # always little-endian out
        try:
            os.symlink(os.path.abspath(compressed_path), codestream_path)
            results = super().decompress(codestream_path, raw_path, original_file_info)
            samples = np.fromfile(raw_path, dtype=isets.iproperties_row_to_numpy_dtype(
                dict(original_file_info, big_endian=False)))
        finally:
            for path in (raw_path, codestream_path):
                if os.path.lexists(path):
                    os.remove(path)
        samples.astype(isets.iproperties_row_to_numpy_dtype(original_file_info)).tofile(
            reconstructed_path)
        results.compressed_path, results.reconstructed_path = compressed_path, reconstructed_path
        return results

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        width, height = int(original_file_info["width"]), int(original_file_info["height"])
        bits = 8 * int(original_file_info["bytes_per_sample"])
        # Each resolution level halves the image; opj_compress refuses more levels than the
        # smaller side allows (6 by default).
        resolutions = max(1, min(6, min(width, height).bit_length()))
        geometry = f"{width},{height},{int(original_file_info['component_count'])},{bits}," \
                   f"{'s' if original_file_info['signed'] else 'u'}"
        lossy = ["-I", "-r", str(self.param_dict["compression_ratio"])] \
            if "compression_ratio" in self.param_dict else []
        return ["-i", original_path, "-o", compressed_path, "-F", geometry,
                "-n", str(resolutions), *lossy]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return ["-i", compressed_path, "-o", reconstructed_path]

    @property
    def label(self):
        ratio = self.param_dict.get("compression_ratio")
        return "JPEG 2000" if ratio is None else f"JPEG 2000 {ratio}:1"
