#!/usr/bin/env python3
"""Brotli, through the ``brotli`` program (Debian package ``brotli``)."""

import enb.compression.codec
import enb.compression.wrapper

__all__ = ["Brotli"]


class Brotli(enb.compression.codec.LosslessCodec, enb.compression.wrapper.WrapperCodec):
    """Brotli at a quality from 0 to 11 (``window_bits``: the sliding window, 10 to 24)."""
    debian_package = "brotli"

    def __init__(self, compression_level=11, window_bits=None,
                 brotli_binary="brotli"):
        if not 0 <= int(compression_level) <= 11:
            raise ValueError(f"Brotli: compression_level must be between 0 and 11, not "
                             f"{compression_level!r}")
        params = dict(compression_level=compression_level)
        if window_bits is not None:
            if not 10 <= int(window_bits) <= 24:
                raise ValueError(f"Brotli: window_bits must be between 10 and 24, not "
                                 f"{window_bits!r}")
            params["window_bits"] = int(window_bits)
        super().__init__(compressor_path=brotli_binary, decompressor_path=brotli_binary,
                         param_dict=params)

    @property
    def label(self):
        return f"Brotli {self.param_dict['compression_level']}"

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        window = ["-w", str(self.param_dict["window_bits"])] \
            if "window_bits" in self.param_dict else []
        return ["-q", str(self.param_dict["compression_level"]), *window, "-f", "-o",
                compressed_path, "--", original_path]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return ["-d", "-f", "-o", reconstructed_path, "--", compressed_path]
