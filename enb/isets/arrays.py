"""Read and write raw images as numpy arrays indexed ``[x, y, z]`` (column, row, component).

Raw files have no header. Three sample orders are supported, as in enb 1.x:

- ``bsq`` (band sequential): every component in turn, each in raster order;
- ``bil`` (band interleaved by line): row 0 of every component, then row 1, ...;
- ``bip`` (band interleaved by pixel): every component of pixel (0, 0), then of (1, 0), ...

Geometry and sample type come from an image properties row (the columns of
:class:`enb.isets.ImageGeometryTable`), from explicit arguments, or from the file name's
tags (``u16be-3x600x800``, see :mod:`enb.isets.tags`).
"""
from __future__ import annotations

import io
import os

import numpy as np

from .tags import ImageGeometryError, file_path_to_geometry_dict, iproperties_row_to_numpy_dtype

#: order -> (the file's axis order as a shape built from (width, height, components),
#:           the transposition from that shape to [x, y, z]).
_LAYOUTS = {
    "bsq": (lambda w, h, c: (c, h, w), (2, 1, 0)),
    "bil": (lambda w, h, c: (h, c, w), (2, 0, 1)),
    "bip": (lambda w, h, c: (h, w, c), (1, 0, 2)),
}


def _layout(order: str):
    try:
        return _LAYOUTS[str(order).lower()]
    except KeyError:
        raise ValueError(f"invalid sample order {order!r}: use 'bsq', 'bil' or 'bip'") from None


def _is_path(file_or_path) -> bool:
    return isinstance(file_or_path, (str, bytes, os.PathLike))


def load_array(file_or_path, image_properties_row=None, width=None, height=None,
               component_count=None, dtype=None, order="bsq") -> np.ndarray:
    """Return the image in ``file_or_path`` (a path or a file open in binary mode) as [x, y, z].

    ``image_properties_row`` (a dict-like row with width, height, component_count and either
    dtype or bytes_per_sample, signed, big_endian and float) describes the image; when it is
    None the file name's tags do. ``width``, ``height``, ``component_count`` and ``dtype``
    (any numpy dtype) override it. ``order`` is ``bsq`` (default), ``bil`` or ``bip``.
    """
    shape_of, to_xyz = _layout(order)
    name = os.fspath(file_or_path) if _is_path(file_or_path) else \
        getattr(file_or_path, "name", repr(file_or_path))
    if image_properties_row is None and _is_path(file_or_path):
        image_properties_row = file_path_to_geometry_dict(file_or_path, verify_file_size=False)
    row = image_properties_row if image_properties_row is not None else {}
    try:
        width = int(width if width is not None else row["width"])
        height = int(height if height is not None else row["height"])
        component_count = int(component_count if component_count is not None
                              else row["component_count"])
        if dtype is None:
            dtype = row["dtype"] if "dtype" in row and row["dtype"] else \
                iproperties_row_to_numpy_dtype(row)
    except KeyError as ex:
        raise ImageGeometryError(
            f"{name}: cannot tell the image's {ex.args[0]}: put tags such as u16be-3x600x800 in "
            f"the file name, or pass the image properties") from None
    dtype = np.dtype(dtype)
    expected = width * height * component_count
    if _is_path(file_or_path):
        data = np.fromfile(file_or_path, dtype=dtype)
    elif _has_fileno(file_or_path):
        # From an open file, one image is read from its position on, so that several images
        # stored one after the other can be read in turn.
        data = np.fromfile(file_or_path, dtype=dtype, count=expected)
    else:
        data = np.frombuffer(file_or_path.read(expected * dtype.itemsize), dtype=dtype).copy()
    if data.size != expected:
        raise ImageGeometryError(
            f"{name}: holds {data.size} samples of {dtype}, but a {component_count}x{height}x"
            f"{width} image has {expected}")
    return data.reshape(shape_of(width, height, component_count)).transpose(to_xyz)


def load_array_bsq(file_or_path, image_properties_row=None, width=None, height=None,
                   component_count=None, dtype=None) -> np.ndarray:
    """Return a band-sequential raw image as [x, y, z] (see :func:`load_array`)."""
    return load_array(file_or_path, image_properties_row, width, height, component_count,
                      dtype, order="bsq")


def load_array_bil(file_or_path, image_properties_row=None, width=None, height=None,
                   component_count=None, dtype=None) -> np.ndarray:
    """Return a band-interleaved-by-line raw image as [x, y, z] (see :func:`load_array`)."""
    return load_array(file_or_path, image_properties_row, width, height, component_count,
                      dtype, order="bil")


def load_array_bip(file_or_path, image_properties_row=None, width=None, height=None,
                   component_count=None, dtype=None) -> np.ndarray:
    """Return a band-interleaved-by-pixel raw image as [x, y, z] (see :func:`load_array`)."""
    return load_array(file_or_path, image_properties_row, width, height, component_count,
                      dtype, order="bip")


def dump_array(array, file_or_path, mode="wb", dtype=None, order="bsq") -> None:
    """Write an [x, y, z] (or [x, y]) array as a raw image in ``order`` (bsq, bil or bip).

    ``file_or_path``: a path (its folder is created; ``mode`` "wb" or "ab") or a file open
    for binary writing (written at its position, left open). ``dtype``: cast to it first
    (e.g. ``>u2`` for big-endian 16-bit samples).
    """
    _, to_xyz = _layout(order)
    array = np.asarray(array)
    if dtype is not None and array.dtype != np.dtype(dtype):
        array = array.astype(dtype)
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3:
        raise ValueError(f"cannot write a {array.ndim}-dimensional array as an image: give an "
                         f"[x, y] or [x, y, z] array")
    # The inverse of the [x, y, z] -> file-order transposition used when reading.
    in_file_order = array.transpose(np.argsort(to_xyz))
    if _is_path(file_or_path):
        folder = os.path.dirname(os.fspath(file_or_path))
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(file_or_path, mode) as handle:
            in_file_order.tofile(handle)
    elif _has_fileno(file_or_path):
        file_or_path.flush()
        in_file_order.tofile(file_or_path)
    else:
        file_or_path.write(in_file_order.tobytes())


def dump_array_bsq(array, file_or_path, mode="wb", dtype=None) -> None:
    """Write an array as a band-sequential raw image (see :func:`dump_array`)."""
    dump_array(array, file_or_path, mode=mode, dtype=dtype, order="bsq")


def dump_array_bil(array, file_or_path, mode="wb", dtype=None) -> None:
    """Write an array as a band-interleaved-by-line raw image (see :func:`dump_array`)."""
    dump_array(array, file_or_path, mode=mode, dtype=dtype, order="bil")


def dump_array_bip(array, file_or_path, mode="wb", dtype=None) -> None:
    """Write an array as a band-interleaved-by-pixel raw image (see :func:`dump_array`)."""
    dump_array(array, file_or_path, mode=mode, dtype=dtype, order="bip")


def _has_fileno(stream) -> bool:
    try:
        stream.fileno()
        return True
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False
