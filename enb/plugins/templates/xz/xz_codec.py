#!/usr/bin/env python3
"""XZ (LZMA2), through the ``xz`` program (Debian package ``xz-utils``)."""

import enb.compression.codec
import enb.compression.wrapper

__all__ = ["XZ"]


class XZ(enb.compression.codec.LosslessCodec, enb.compression.wrapper.WrapperCodec):
    """The xz program at a preset from 0 to 9 (``extreme``: its slower ``-e`` variant)."""
    debian_package = "xz-utils"
    compressor_writes_stdout = True
    decompressor_writes_stdout = True

    def __init__(self, compression_level=6, extreme=False, xz_binary="xz"):
        if not 0 <= int(compression_level) <= 9:
            raise ValueError(f"XZ: compression_level must be between 0 and 9, not "
                             f"{compression_level!r}")
        params = dict(compression_level=compression_level)
        if extreme:
            params["extreme"] = True
        super().__init__(compressor_path=xz_binary, decompressor_path=xz_binary,
                         param_dict=params)

    @property
    def label(self):
        extreme = " extreme" if self.param_dict.get("extreme") else ""
        return f"XZ level {self.param_dict['compression_level']}{extreme}"

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        extreme = ["-e"] if self.param_dict.get("extreme") else []
        return [f"-{self.param_dict['compression_level']}", *extreme, "-c", "--", original_path]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return ["-d", "-c", "--", compressed_path]
