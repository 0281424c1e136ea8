#!/usr/bin/env python3
"""Zstandard, through the ``zstd`` program (Debian package ``zstd``)."""

import enb.compression.codec
import enb.compression.wrapper

__all__ = ["Zstandard"]


class Zstandard(enb.compression.codec.LosslessCodec, enb.compression.wrapper.WrapperCodec):
    """Zstandard at a compression level from 1 to 22 (levels above 19 use ``--ultra``)."""
    debian_package = "zstd"

    def __init__(self, compression_level=19, zstd_binary="zstd"):
        if not 1 <= int(compression_level) <= 22:
            raise ValueError(f"Zstandard: compression_level must be between 1 and 22, not "
                             f"{compression_level!r}")
        super().__init__(compressor_path=zstd_binary, decompressor_path=zstd_binary,
                         param_dict=dict(compression_level=compression_level))

    @property
    def label(self):
        return f"Zstandard {self.param_dict['compression_level']}"

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        level = int(self.param_dict["compression_level"])
        return [f"-{level}", *(["--ultra"] if level > 19 else []), "-q", "-f", original_path,
                "-o", compressed_path]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return ["-d", "-q", "-f", compressed_path, "-o", reconstructed_path]
