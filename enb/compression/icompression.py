"""Lossy image compression experiments (enb 1.x's ``enb.icompression``).

:class:`LossyCompressionExperiment` adds the distortion of every reconstruction: MSE, PAE and
PSNR (against the nominal range of the sample type and against the file's dynamic range);
:class:`StructuralSimilarity` adds SSIM and MS-SSIM; :class:`SpectralAngleTable` the spectral
angle between original and reconstructed pixels. The metrics themselves are in
:mod:`enb.compression.metrics`. This module also re-exports, as enb 1.x did, the codec,
wrapper and experiment names of :mod:`enb.compression`.
"""
from __future__ import annotations

import importlib

import numpy as np

from ..atable import ColumnProperties, column_function, indices_to_internal_loc  # noqa: F401
from ..isets import dump_array_bsq, load_array_bsq  # noqa: F401
from . import metrics
from .codec import (AbstractCodec, LosslessCodec, LossyCodec,  # noqa: F401
                    NearLosslessCodec, PassthroughCodec)
from .experiment import (CompressionExperiment, GeneralLosslessExperiment,  # noqa: F401
                         GenericFilePropertiesTable, LosslessCompressionExperiment)
from .results import (CompressionException, CompressionResults,  # noqa: F401
                      DecompressionException, DecompressionResults)
from .wrapper import (JavaWrapperCodec, LittleEndianWrapper,  # noqa: F401
                      QuantizationWrapperCodec, ReindexWrapper, WrapperCodec)


def _peak_value(info, original) -> float:
    """The largest possible sample value of the nominal range (floats: the original's span)."""
    if info.get("float", False):
        span = float(np.max(original) - np.min(original)) if original.size else 0.0
        return span or 1.0
    return float(2 ** (8 * int(info["bytes_per_sample"])) - 1)


class LossyCompressionExperiment(CompressionExperiment):
    """A compression experiment that also measures the distortion of each reconstruction."""

    @column_function("mse", label="MSE", plot_min=0)
    def set_MSE(self, index, row):
        """Set the mean squared error of the reconstruction."""
        cycle = self.codec_results
        row["mse"] = metrics.mse(cycle.original_array(), cycle.reconstructed_array())

    @column_function("pae", label="PAE", plot_min=0)
    def set_PAE(self, index, row):
        """Set the peak absolute error (the largest sample difference)."""
        cycle = self.codec_results
        row["pae"] = metrics.pae(cycle.original_array(), cycle.reconstructed_array())

    @column_function("psnr_bps", label="PSNR (dB, nominal range)", plot_min=0)
    def set_PSNR_nominal(self, index, row):
        """Set the PSNR against the nominal range of the sample type (2^(8 x bytes) - 1;
        infinite for floating point data, as in enb 1.x)."""
        info = self.get_image_info_row(index[0])
        if info.get("float", False):
            row["psnr_bps"] = float("inf")
        else:
            row["psnr_bps"] = metrics.psnr(row["mse"],
                                           2 ** (8 * int(info["bytes_per_sample"])) - 1)

    @column_function("psnr_dr", label="PSNR (dB, dynamic range)", plot_min=0)
    def set_PSNR_dynamic_range(self, index, row):
        """Set the PSNR against the file's dynamic range (2^dynamic_range_bits - 1)."""
        info = self.get_image_info_row(index[0])
        row["psnr_dr"] = metrics.psnr(row["mse"], 2 ** int(info["dynamic_range_bits"]) - 1)


class StructuralSimilarity(CompressionExperiment):
    """A compression experiment that measures SSIM and MS-SSIM (Wang et al.).

    The dynamic range given to both is the nominal range of the sample type (255 for 8-bit
    images, 65535 for 16-bit ones; for floats, the original's span).
    """

    @column_function([ColumnProperties(name="ssim", label="SSIM", plot_max=1),
                      ColumnProperties(name="ms_ssim", label="MS-SSIM", plot_max=1)])
    def set_StructuralSimilarity(self, index, row):
        cycle = self.codec_results
        original, reconstructed = cycle.original_array(), cycle.reconstructed_array()
        peak = _peak_value(self.get_image_info_row(index[0]), original)
        row["ssim"] = self.compute_SSIM(original, reconstructed, max_val=peak)
        row["ms_ssim"] = self.cumpute_MSSIM(original, reconstructed, max_val=peak)

    def compute_SSIM(self, img1, img2, max_val=255, filter_size=11, filter_sigma=1.5, k1=0.01,
                     k2=0.03, full=False):
        """Return the SSIM of two [x, y, z] images (with the contrast term if ``full``)."""
        if full:
            return metrics._ssim_and_contrast(img1, img2, max_val, filter_size, filter_sigma,
                                              k1, k2)
        return metrics.ssim(img1, img2, max_val, filter_size, filter_sigma, k1, k2)

    def cumpute_MSSIM(self, img1, img2, max_val=255, filter_size=11, filter_sigma=1.5, k1=0.01,
                      k2=0.03, weights=None):
        """Return the MS-SSIM of two [x, y, z] images (enb 1.x's spelling)."""
        return metrics.ms_ssim(img1, img2, max_val, filter_size, filter_sigma, k1, k2, weights)

    compute_MSSIM = cumpute_MSSIM


class SpectralAngleTable(LossyCompressionExperiment):
    """A lossy experiment that measures the spectral angle between original and reconstructed
    pixels (their vectors of components)."""

    def get_spectral_angles_deg(self, index, row) -> list:
        """Return the angle, in degrees, of every pixel."""
        cycle = self.codec_results
        return metrics.spectral_angles_deg(cycle.original_array(),
                                           cycle.reconstructed_array()).tolist()

    @column_function([
        ColumnProperties("mean_spectral_angle_deg", label="Mean spectral angle (deg)",
                         plot_min=0, plot_max=None),
        ColumnProperties("max_spectral_angle_deg", label="Max spectral angle (deg)",
                         plot_min=0, plot_max=None)])
    def set_spectral_distances(self, index, row):
        angles = self.get_spectral_angles_deg(index=index, row=row)
        if any(np.isnan(angles)):
            raise ValueError(f"a spectral angle of {index} is not a number")
        row["mean_spectral_angle_deg"] = sum(angles) / len(angles)
        row["max_spectral_angle_deg"] = max(angles)


class GiciLibHelper:
    """Parameters for programs built on the GiciLibs (gici.uab.cat): data type, byte order and
    geometry strings."""

    def file_info_to_data_str(self, original_file_info) -> str:
        bytes_per_sample = int(original_file_info["bytes_per_sample"])
        signed = bool(original_file_info["signed"])
        if bytes_per_sample == 1:
            return "1"
        if bytes_per_sample == 2:
            return "3" if signed else "2"
        if bytes_per_sample == 4 and signed:
            return "4"
        raise ValueError(f"{type(self).__name__}: {bytes_per_sample}-byte "
                         f"{'signed' if signed else 'unsigned'} samples are not supported "
                         f"(1 or 2 bytes, or 4 signed)")

    def file_info_to_endianness_str(self, original_file_info) -> str:
        return "0" if original_file_info["big_endian"] else "1"

    def get_gici_geometry_str(self, original_file_info) -> str:
        """Return what follows ``-ig`` or ``-og``: components, height, width, type, order, 0."""
        return (f"{original_file_info['component_count']} {original_file_info['height']} "
                f"{original_file_info['width']} "
                f"{self.file_info_to_data_str(original_file_info)} "
                f"{self.file_info_to_endianness_str(original_file_info)} 0 ")


#: enb 1.x also exposes these here; they need Pillow or astropy, so they load when asked for.
_ELSEWHERE = {"PNGWrapperCodec": ("enb.compression.png", "PNGWrapperCodec"),
              "PGMWrapperCodec": ("enb.compression.pgm", "PGMWrapperCodec"),
              "FITSVersionTable": ("enb.compression.fits", "FITSVersionTable"),
              "FitsWrapperCodec": ("enb.compression.fits", "FITSWrapperCodec"),
              "FITSWrapperCodec": ("enb.compression.fits", "FITSWrapperCodec")}


def __getattr__(name: str):
    if name in _ELSEWHERE:
        module, attribute = _ELSEWHERE[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'enb.compression.icompression' has no attribute {name!r}")
