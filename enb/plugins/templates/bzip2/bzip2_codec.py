#!/usr/bin/env python3
"""bzip2, through the ``bzip2`` program (Debian package ``bzip2``).

The ``zip`` plugin's BZIP2 runs the same algorithm inside Python; this one times the
program, as a user of the command line sees it.
"""

import enb.compression.codec
import enb.compression.wrapper

__all__ = ["Bzip2"]


class Bzip2(enb.compression.codec.LosslessCodec, enb.compression.wrapper.WrapperCodec):
    """The bzip2 program with a block size from 1 (100 kB) to 9 (900 kB)."""
    debian_package = "bzip2"
    compressor_writes_stdout = True
    decompressor_writes_stdout = True

    def __init__(self, compression_level=9, bzip2_binary="bzip2"):
        if not 1 <= int(compression_level) <= 9:
            raise ValueError(f"Bzip2: compression_level must be between 1 and 9, not "
                             f"{compression_level!r}")
        super().__init__(compressor_path=bzip2_binary, decompressor_path=bzip2_binary,
                         param_dict=dict(compression_level=compression_level))

    @property
    def label(self):
        return f"bzip2 -{self.param_dict['compression_level']}"

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        return [f"-{self.param_dict['compression_level']}", "-c", "--", original_path]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return ["-d", "-c", "--", compressed_path]
