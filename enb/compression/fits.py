"""FITS images (enb 1.x's ``enb.fits``): raw images to FITS and back, and codecs of FITS files.

Reading and writing FITS needs astropy (``pip install 'enb[fits]'``), imported only when a
FITS file is read or written. FITS stores samples big-endian; unsigned 16- and 32-bit
samples are kept with the usual BZERO offset, so they come back unsigned.
:class:`FITSVersionTable` (raw versions of a folder of FITS files) is a file version table.
"""
from __future__ import annotations

import importlib
import os

import numpy as np

from .. import isets
from .scratch import scratch_dir
from .wrapper import WrapperCodec


def _astropy_fits():
    try:
        from astropy.io import fits
    except ImportError as ex:
        raise ImportError("reading and writing FITS needs astropy: "
                          "pip install 'enb[fits]'") from ex
    return fits


def write_fits(array, fits_path) -> None:
    """Write an [x, y, z] (or [x, y]) array as the primary image of a FITS file."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    data = np.ascontiguousarray(array.transpose(2, 1, 0))  # FITS axes: NAXIS1 = x, fastest
    if data.shape[0] == 1:
        data = data[0]
    if data.dtype.kind == "f":
        data = data.astype(data.dtype.newbyteorder(">"))
    _astropy_fits().PrimaryHDU(data).writeto(fits_path, overwrite=True)


def read_fits_images(fits_path) -> list:
    """Return the images of every HDU with data in a FITS file, as [x, y, z] arrays."""
    fits = _astropy_fits()
    images = []
    with fits.open(fits_path, ignore_missing_simple=True) as hdus:
        for hdu in hdus:
            if not hdu.header.get("NAXIS") or hdu.data is None:
                continue
            data = np.asarray(hdu.data)
            if data.ndim == 1:
                data = data[np.newaxis, np.newaxis, :]
            elif data.ndim == 2:
                data = data[np.newaxis, :, :]
            elif data.ndim == 4 and data.shape[0] == 1:
                data = data[0]
            elif data.ndim != 3:
                raise ValueError(f"{fits_path}: an HDU of {data.ndim} axes "
                                 f"({data.shape}); enb reads 1 to 3")
            images.append((data.transpose(2, 1, 0).copy(), hdu.header))
    return images


def fits_sample_type(array) -> isets.SampleType:
    """Return the enb sample type that holds an array read from FITS."""
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "f":
        return isets.SampleType(size, True, False, True)
    if size > 4:
        raise ValueError(f"{size * 8}-bit integer samples have no enb sample type tag")
    return isets.SampleType(size, kind == "i", True, False)


class FITSWrapperCodec(WrapperCodec):
    """A WrapperCodec whose programs compress FITS files.

    The raw image is written as FITS in the row's temporary folder before compression, and
    the program's FITS output is written back as raw (the original's sample type) after
    decompression. The parameters see the FITS paths.
    """

    def compress(self, original_path: str, compressed_path: str, original_file_info=None):
        image = isets.load_array_bsq(original_path, image_properties_row=original_file_info)
        fits_path = os.path.join(scratch_dir(), f"{os.path.basename(original_path)}.fits")
        try:
            write_fits(image, fits_path)
            results = super().compress(fits_path, compressed_path, original_file_info)
        finally:
            if os.path.exists(fits_path):
                os.remove(fits_path)
        results.original_path = original_path
        return results

    def decompress(self, compressed_path: str, reconstructed_path: str,
                   original_file_info=None):
        fits_path = os.path.join(scratch_dir(), f"{os.path.basename(reconstructed_path)}.fits")
        try:
            results = super().decompress(compressed_path, fits_path, original_file_info)
            images = read_fits_images(fits_path)
        finally:
            if os.path.exists(fits_path):
                os.remove(fits_path)
        if len(images) != 1:
            raise ValueError(f"{self.name}: the decompressed FITS file holds {len(images)} "
                             f"images, not 1")
        image = images[0][0]
        dtype = isets.iproperties_row_to_numpy_dtype(original_file_info) \
            if original_file_info is not None else fits_sample_type(image).dtype
        isets.dump_array_bsq(image, reconstructed_path, dtype=dtype)
        results.reconstructed_path = reconstructed_path
        return results


def __getattr__(name: str):
    if name == "FITSVersionTable":
        return getattr(importlib.import_module("enb.compression.curation"), name)
    raise AttributeError(f"module 'enb.compression.fits' has no attribute {name!r}")
