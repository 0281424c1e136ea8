#!/usr/bin/env python3
"""LZ4, through the ``lz4`` program (Debian package ``lz4``)."""

import enb.compression.codec
import enb.compression.wrapper

__all__ = ["Lz4"]


class Lz4(enb.compression.codec.LosslessCodec, enb.compression.wrapper.WrapperCodec):
    """LZ4 frames at a compression level from 1 to 12 (9 by default; 3 and above use LZ4HC)."""
    debian_package = "lz4"

    def __init__(self, lz4_binary="lz4", compression_level=9):
        if not 1 <= int(compression_level) <= 12:
            raise ValueError(f"Lz4: compression_level must be between 1 and 12, not "
                             f"{compression_level!r}")
        super().__init__(compressor_path=lz4_binary, decompressor_path=lz4_binary,
                         param_dict=dict(compression_level=compression_level))

    @property
    def label(self):
        return f"LZ4 level {self.param_dict['compression_level']}"

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        return [f"-{self.param_dict['compression_level']}", "-q", "-f", original_path,
                compressed_path]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return ["-d", "-q", "-f", compressed_path, reconstructed_path]
