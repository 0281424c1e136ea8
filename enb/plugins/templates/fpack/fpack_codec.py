#!/usr/bin/env python3
"""FITS tile compression through cfitsio's ``fpack`` and ``funpack`` (Debian package
``libcfitsio-bin``), the astronomers' standard: Rice, GZIP and H-compress.

The raw image goes to fpack as a FITS file (astropy: ``pip install 'enb[fits]'``) and comes
back from funpack the same way. Integer images are compressed losslessly by all three;
floating point images only by GZIP (``-q 0``: fpack quantizes them otherwise, and allows no
other algorithm unquantized), so RICE and HCOMPRESS refuse them.
"""
import enb.compression.codec
import enb.compression.fits

__all__ = ["FPACK_RICE", "FPACK_GZIP", "FPACK_HCOMPRESS"]


class _Fpack(enb.compression.codec.LosslessCodec, enb.compression.fits.FITSWrapperCodec):
    debian_package = "libcfitsio-bin"
    #: fpack's option of this algorithm.
    algorithm_flag = ""
    algorithm_label = ""

    def __init__(self, fpack_binary="fpack", funpack_binary="funpack"):
        super().__init__(compressor_path=fpack_binary, decompressor_path=funpack_binary,
                         param_dict={})

    #: Whether fpack keeps floating point samples exact with this algorithm (-q 0).
    exact_floats = False

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        floats = bool(original_file_info and original_file_info.get("float", False))
        if floats and not self.exact_floats:
            raise ValueError(f"{self.name}: fpack quantizes floating point samples with "
                             f"{self.algorithm_label} (lossy); FPACK_GZIP keeps them exact")
        exact = ["-q", "0"] if floats else []
        return [self.algorithm_flag, *exact, "-O", compressed_path, original_path]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return ["-O", reconstructed_path, compressed_path]

    @property
    def label(self):
        return f"FPACK - {self.algorithm_label}"


class FPACK_RICE(_Fpack):
    """fpack with Rice coding (its default, fast)."""
    algorithm_flag, algorithm_label = "-r", "RICE"


class FPACK_GZIP(_Fpack):
    """fpack with GZIP (floating point samples kept exact)."""
    algorithm_flag, algorithm_label = "-g", "GZIP"
    exact_floats = True


class FPACK_HCOMPRESS(_Fpack):
    """fpack with H-compress (a wavelet transform; 2-dimensional images)."""
    algorithm_flag, algorithm_label = "-h", "HCOMPRESS"
