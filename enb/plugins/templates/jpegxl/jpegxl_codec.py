#!/usr/bin/env python3
"""JPEG XL, through the reference ``cjxl`` and ``djxl`` programs (Debian: ``libjxl-tools``).

Images go to the programs as PGM (1 component), PPM (3) or PAM (2, 4), 8 or 16 bits per
sample, unsigned. Lossless (the default) is exact for every one of them that cjxl accepts.
"""

import enb.compression.codec
import enb.compression.pgm

__all__ = ["JPEG_XL"]


class JPEG_XL(enb.compression.codec.LosslessCodec, enb.compression.codec.LossyCodec,
              enb.compression.pgm.PGMWrapperCodec):
    """JPEG XL: lossless (modular mode, distance 0) or lossy at ``quality_0_to_100``.

    ``compression_level`` is cjxl's effort, 3 (fast) to 9 (slowest).
    """
    debian_package = "libjxl-tools"
    netpbm_extension_by_components = {1: ".pgm", 2: ".pam", 3: ".ppm", 4: ".pam"}

    def __init__(self, quality_0_to_100=100, compression_level=7, lossless=True,
                 compressor_path="cjxl",
                 decompressor_path="djxl"):
        if not 3 <= compression_level <= 9:
            raise ValueError(f"JPEG_XL: compression_level (effort) must be between 3 and 9, "
                             f"not {compression_level!r}")
        if not 0 <= quality_0_to_100 <= 100:
            raise ValueError(f"JPEG_XL: quality_0_to_100 must be between 0 and 100, not "
                             f"{quality_0_to_100!r}")
        if lossless and quality_0_to_100 != 100:
            raise ValueError("JPEG_XL: lossless mode needs quality_0_to_100=100")
        super().__init__(compressor_path=compressor_path, decompressor_path=decompressor_path,
                         param_dict=dict(quality_0_to_100=quality_0_to_100,
                                         compression_level=compression_level, lossless=lossless))

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        quality = ["-d", "0"] if self.param_dict["lossless"] else \
            ["-q", str(self.param_dict["quality_0_to_100"])]
        return [original_path, compressed_path, *quality,
                "-e", str(self.param_dict["compression_level"]), "--quiet"]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return [compressed_path, reconstructed_path, "--quiet"]

    @property
    def label(self):
        return "JPEG XL" if self.param_dict["lossless"] else \
            f"JPEG XL q={self.param_dict['quality_0_to_100']}"
