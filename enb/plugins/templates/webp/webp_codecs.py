#!/usr/bin/env python3
"""WebP, through the reference ``cwebp`` and ``dwebp`` programs (Debian package ``webp``).

WebP holds 8-bit RGB or RGBA: images of 1, 3 or 4 unsigned 8-bit components. They go to
cwebp as PNG and come back from dwebp as PAM; a 1-component image is stored as grey RGB
and read back from it.
"""
import os

import numpy as np

import enb.compression.codec
import enb.compression.wrapper
from enb import isets
from enb.compression.netpbm import read_netpbm
from enb.compression.png import write_png
from enb.compression.scratch import scratch_dir

__all__ = ["WebP", "LosslessWebP"]


class WebP(enb.compression.codec.LossyCodec, enb.compression.wrapper.WrapperCodec):
    """Lossy WebP at ``quality`` 0 to 100 (75 by default, as cwebp)."""
    debian_package = "webp"

    def __init__(self, quality=75, cwebp_binary="cwebp",
                 dwebp_binary="dwebp"):
        if not 0 <= quality <= 100:
            raise ValueError(f"{type(self).__name__}: quality must be between 0 and 100, not "
                             f"{quality!r}")
        super().__init__(compressor_path=cwebp_binary, decompressor_path=dwebp_binary,
                         param_dict=self._params(quality))

    def _params(self, quality):
        return dict(quality=quality)

    def _check(self, info):
        if info is None:
            raise ValueError(f"{self.name} needs the image's properties (original_file_info)")
        if int(info["bytes_per_sample"]) != 1 or info["signed"] or info.get("float", False):
            raise ValueError(f"{self.name}: WebP holds unsigned 8-bit samples only")
        if int(info["component_count"]) not in (1, 3, 4):
            raise ValueError(f"{self.name}: WebP holds 1 (grey), 3 or 4 components, not "
                             f"{info['component_count']}")

    def compress(self, original_path, compressed_path, original_file_info=None):
        self._check(original_file_info)
        image = isets.load_array_bsq(original_path, image_properties_row=original_file_info)
        png_path = os.path.join(scratch_dir(), f"{os.path.basename(original_path)}.png")
        try:
            write_png(image.astype(np.uint8), png_path)
            results = super().compress(png_path, compressed_path, original_file_info)
        finally:
            if os.path.exists(png_path):
                os.remove(png_path)
        results.original_path = original_path
        return results

    def decompress(self, compressed_path, reconstructed_path, original_file_info=None):
        self._check(original_file_info)
        pam_path = os.path.join(scratch_dir(), f"{os.path.basename(reconstructed_path)}.pam")
        try:
            results = super().decompress(compressed_path, pam_path, original_file_info)
            rgba, _ = read_netpbm(pam_path)
        finally:
            if os.path.exists(pam_path):
                os.remove(pam_path)
        components = int(original_file_info["component_count"])
        if components == 1:
            # Grey was stored as R = G = B; a lossy decoder can leave them 1 apart.
            image = np.rint(rgba[:, :, :3].astype(np.float64).mean(axis=2, keepdims=True))
        else:
            image = rgba[:, :, :components]
        isets.dump_array_bsq(image, reconstructed_path, dtype="u1")
        results.reconstructed_path = reconstructed_path
        return results

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        return ["-q", str(self.param_dict["quality"]), "-quiet", original_path,
                "-o", compressed_path]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return ["-quiet", compressed_path, "-pam", "-o", reconstructed_path]

    @property
    def label(self):
        return f"WebP q={self.param_dict['quality']}"


class LosslessWebP(enb.compression.codec.LosslessCodec, WebP):
    """Lossless WebP (``-lossless -exact``) at effort ``compression_level`` 0 to 100."""

    def __init__(self, compression_level=75, cwebp_binary="cwebp",
                 dwebp_binary="dwebp"):
        super().__init__(quality=compression_level, cwebp_binary=cwebp_binary,
                         dwebp_binary=dwebp_binary)

    def _params(self, quality):
        return dict(compression_level=quality)

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        # -exact keeps the colour of fully transparent pixels, which cwebp would change.
        return ["-lossless", "-exact", "-q", str(self.param_dict["compression_level"]),
                "-quiet", original_path, "-o", compressed_path]

    @property
    def label(self):
        return "WebP lossless"
