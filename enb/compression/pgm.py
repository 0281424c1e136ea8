"""PGM (P5) and PPM (P6) images (enb 1.x's ``enb.pgm``): read, write, convert to raw, wrap.

``read_pgm`` returns an [x, y] array, ``read_ppm`` an [x, y, 3] one; the writers take the
same. :class:`PGMWrapperCodec` runs programs that compress PGM or PPM files (one component:
PGM, three: PPM, 8 or 16 bits). The curation tables (:class:`PGMCurationTable`,
:class:`PPMCurationTable`) write raw versions of a folder of such images.
"""
from __future__ import annotations

import importlib
import os

import numpy as np

from .. import isets
from .netpbm import NetpbmError, read_netpbm, write_netpbm
from .scratch import scratch_dir
from .wrapper import WrapperCodec


def _read(input_path, byteorder, depth, kind):
    array, maxval = read_netpbm(input_path)
    if array.shape[2] != depth:
        raise NetpbmError(f"{input_path}: not a {kind} file ({array.shape[2]} components)")
    if maxval > 255 and byteorder == "<":
        array = array.byteswap()
    return array


def read_pgm(input_path, byteorder=">") -> np.ndarray:
    """Return a binary PGM image as an [x, y] array (16-bit samples read in ``byteorder``)."""
    return _read(input_path, byteorder, 1, "PGM (P5)")[:, :, 0]


def read_ppm(input_path, byteorder=">") -> np.ndarray:
    """Return a binary PPM image as an [x, y, 3] array."""
    return _read(input_path, byteorder, 3, "PPM (P6)")


def _check_bytes(bytes_per_sample):
    if bytes_per_sample not in (1, 2):
        raise ValueError(f"bytes_per_sample={bytes_per_sample}: PGM and PPM hold 1 or 2 bytes "
                         f"per sample")


def write_pgm(array, bytes_per_sample, output_path, byteorder=">") -> None:
    """Write an [x, y] array as a binary PGM image of 1 or 2 bytes per sample."""
    _check_bytes(bytes_per_sample)
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"only [x, y] arrays can be written as PGM, not {array.shape}")
    if byteorder == "<" and bytes_per_sample == 2:
        array = array.astype(">u2").byteswap()
    write_netpbm(array, output_path, maxval=2 ** (8 * bytes_per_sample) - 1)


def write_ppm(array, bytes_per_sample, output_path) -> None:
    """Write an [x, y, 3] array as a binary PPM image of 1 or 2 bytes per sample."""
    _check_bytes(bytes_per_sample)
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"only [x, y, 3] arrays can be written as PPM, not {array.shape}")
    write_netpbm(array, output_path, maxval=2 ** (8 * bytes_per_sample) - 1)


def pgm_to_raw(input_path, output_path) -> None:
    """Write a PGM image's samples as a raw (BSQ) file, with no header."""
    isets.dump_array_bsq(array=read_pgm(input_path), file_or_path=output_path)


def ppm_to_raw(input_path, output_path) -> None:
    """Write a PPM image's samples as a raw (BSQ) file, with no header."""
    isets.dump_array_bsq(array=read_ppm(input_path), file_or_path=output_path)


def netpbm_dtype(info) -> str:
    """Return the dtype of the raw image a PGM/PPM wrapper reconstructs (from its info row)."""
    return isets.iproperties_row_to_numpy_dtype(info)


class PGMWrapperCodec(WrapperCodec):
    """A WrapperCodec whose programs read and write PGM (1 component) or PPM (3 components).

    The raw image is written as PGM/PPM in the row's temporary folder before compression, and
    the program's PGM/PPM output is written back as raw after decompression. Unsigned 8- and
    16-bit samples only. The parameters see the PGM/PPM paths.
    """
    netpbm_extension_by_components = {1: ".pgm", 3: ".ppm"}

    def _netpbm_extension(self, info) -> str:
        if info is None:
            raise ValueError(f"{self.name} needs the image's properties (original_file_info)")
        try:
            return self.netpbm_extension_by_components[int(info["component_count"])]
        except KeyError:
            raise ValueError(f"{self.name}: {int(info['component_count'])} components cannot "
                             f"be written as " + " or ".join(
                                 f"{e[1:].upper()} ({c})" for c, e in
                                 self.netpbm_extension_by_components.items())) from None

    def _check_type(self, info) -> None:
        if info.get("float", False) or info["signed"] or int(info["bytes_per_sample"]) > 2:
            raise ValueError(f"{self.name}: only unsigned 8- and 16-bit samples fit in PGM/PPM "
                             f"(this image has {isets.iproperties_row_to_sample_type_tag(info)})")

    def compress(self, original_path: str, compressed_path: str, original_file_info=None):
        extension = self._netpbm_extension(original_file_info)
        self._check_type(original_file_info)
        image = isets.load_array_bsq(original_path, image_properties_row=original_file_info)
        netpbm_path = os.path.join(scratch_dir(), f"{os.path.basename(original_path)}{extension}")
        try:
            write_netpbm(image, netpbm_path,
                         maxval=2 ** (8 * int(original_file_info["bytes_per_sample"])) - 1)
            results = super().compress(netpbm_path, compressed_path, original_file_info)
        finally:
            if os.path.exists(netpbm_path):
                os.remove(netpbm_path)
        results.original_path = original_path
        return results

    def decompress(self, compressed_path: str, reconstructed_path: str,
                   original_file_info=None):
        extension = self._netpbm_extension(original_file_info)
        netpbm_path = os.path.join(scratch_dir(),
                                   f"{os.path.basename(reconstructed_path)}{extension}")
        try:
            results = super().decompress(compressed_path, netpbm_path, original_file_info)
            image, _ = read_netpbm(netpbm_path)
        finally:
            if os.path.exists(netpbm_path):
                os.remove(netpbm_path)
        isets.dump_array_bsq(image, reconstructed_path, dtype=netpbm_dtype(original_file_info))
        results.reconstructed_path = reconstructed_path
        return results


def __getattr__(name: str):
    # The curation tables are file version tables, loaded when asked for.
    if name in ("PGMCurationTable", "PPMCurationTable"):
        return getattr(importlib.import_module("enb.compression.curation"), name)
    raise AttributeError(f"module 'enb.compression.pgm' has no attribute {name!r}")
