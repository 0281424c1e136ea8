"""PNG images (enb 1.x's ``enb.png``): read, write, render raw images, convert, wrap codecs.

Reading and writing go through Pillow (``pip install 'enb[compression]'``), exactly for
8-bit images of 1 to 4 components and 16-bit greyscale. Pillow keeps at most 8 bits per
channel in multi-channel images (python-pillow/Pillow#1888): 16-bit colour PNG files are
written here directly (a PNG of unfiltered rows needs only zlib) and refused, with that
reason, when read, rather than silently truncated to 8 bits.
"""
from __future__ import annotations

import importlib
import os
import struct
import zlib

import numpy as np

from .. import isets
from .scratch import scratch_dir
from .wrapper import WrapperCodec

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # components -> PNG colour type
_PILLOW_MODE_8BIT = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _pillow():
    try:
        from PIL import Image
    except ImportError as ex:  # pragma: no cover -- depends on the installation
        raise ImportError("reading and writing PNG needs Pillow: "
                          "pip install 'enb[compression]'") from ex
    return Image


def _png_header(path) -> tuple[int, int]:
    """Return (bit depth, colour type) from a PNG file's IHDR chunk."""
    with open(path, "rb") as handle:
        head = handle.read(33)
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a PNG file")
    return head[24], head[25]


def read_png(input_path) -> np.ndarray:
    """Return a PNG image as an [x, y, z] array of uint8 or uint16 samples (palettes expanded)."""
    bit_depth, colour_type = _png_header(input_path)
    if bit_depth == 16 and colour_type in (2, 4, 6):
        raise ValueError(f"{input_path}: a 16-bit colour (or grey + alpha) PNG, which Pillow "
                         f"reads as 8 bits (python-pillow/Pillow#1888); convert it to 16-bit "
                         f"PPM/PAM or split its channels")
    return _read_with_pillow(input_path)


def _read_with_pillow(input_path) -> np.ndarray:
    image = _pillow().open(input_path)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    array = np.asarray(image)
    if array.dtype.kind == "i" or array.dtype.itemsize > 2:
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ValueError(f"{input_path}: samples outside 0-65535 ({image.mode})")
        array = array.astype(np.uint16)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    return array.transpose(1, 0, 2)


def write_png(array, png_path) -> None:
    """Write an [x, y] or [x, y, z] array (1 to 4 components, 8 or 16 bits) as a PNG file."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] not in _COLOUR_TYPE:
        raise ValueError(f"PNG holds 1 to 4 components, not an array of shape {array.shape}")
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"PNG holds uint8 or uint16 samples, not {array.dtype}")
    folder = os.path.dirname(os.fspath(png_path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    rows = np.ascontiguousarray(array.transpose(1, 0, 2))
    if array.dtype == np.uint16 and array.shape[2] > 1:
        _write_png_directly(rows, png_path)
    elif array.dtype == np.uint16:
        _pillow().fromarray(rows[:, :, 0], mode=None).save(png_path, format="PNG")
    else:
        mode = _PILLOW_MODE_8BIT[array.shape[2]]
        _pillow().fromarray(rows if array.shape[2] > 1 else rows[:, :, 0]).convert(mode).save(
            png_path, format="PNG")


def _write_png_directly(rows: np.ndarray, png_path) -> None:
    """Write a [y, x, z] uint16 array as a PNG of unfiltered rows (what Pillow cannot)."""
    height, width, components = rows.shape
    scanlines = np.empty((height, 1 + width * components * 2), dtype=np.uint8)
    scanlines[:, 0] = 0  # filter type None
    scanlines[:, 1:] = rows.astype(">u2").view(np.uint8).reshape(height, -1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, _COLOUR_TYPE[components], 0, 0, 0)
    with open(png_path, "wb") as handle:
        handle.write(_PNG_SIGNATURE + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6))
                     + chunk(b"IEND", b""))


def render_array_png(img, png_path) -> None:
    """Write an [x, y, z] image of unsigned samples (1, 3 or 4 components) as a PNG file.

    Wider unsigned types are narrowed to 8 or 16 bits when their values fit.
    """
    img = np.asarray(img)
    if img.dtype.kind != "u":
        raise ValueError(f"only unsigned samples can be rendered as PNG, not {img.dtype} "
                         f"(try uint8 or uint16)")
    peak = int(img.max()) if img.size else 0
    if peak > 65535:
        raise ValueError(f"{png_path}: the largest sample, {peak}, does not fit in PNG's 16 bits")
    img = img.astype(np.uint8 if peak <= 255 else np.uint16)
    if img.ndim == 3 and img.shape[2] not in (1, 3, 4):
        raise ValueError(f"{png_path}: {img.shape[2]} components; PNG renders 1, 3 or 4")
    write_png(img, png_path)


def raw_path_to_png(raw_path, png_path, image_properties_row=None) -> None:
    """Render a raw image (8 or 16 bits, 1, 3 or 4 components) as a PNG file."""
    render_array_png(isets.load_array_bsq(raw_path, image_properties_row=image_properties_row),
                     png_path)


def png_to_raw(input_path, output_path, adjust_output_path=True) -> str:
    """Write a PNG (or any image Pillow reads) as a big-endian raw BSQ image; return its path.

    With ``adjust_output_path``, ``-u8be-ZxYxX`` (or ``u16be``) is added before ``.raw`` in
    ``output_path`` so that enb can read the result.
    """
    input_path = os.fspath(input_path)
    if input_path.lower().endswith(".png"):
        image = read_png(input_path)
    elif input_path.lower().endswith((".pgm", ".ppm", ".pnm", ".pam")):
        from .netpbm import read_netpbm
        image = read_netpbm(input_path)[0]
    else:
        image = _read_with_pillow(input_path)
    type_tag = "u8be" if image.dtype == np.uint8 else "u16be"
    output_path = os.fspath(output_path)
    if adjust_output_path:
        stem = output_path[:-len(".raw")] if output_path.endswith(".raw") else output_path
        width, height, components = image.shape
        output_path = f"{stem}-{type_tag}-{components}x{height}x{width}.raw"
    isets.dump_array_bsq(image, output_path, dtype=f">u{image.dtype.itemsize}")
    return output_path


class PNGWrapperCodec(WrapperCodec):
    """A WrapperCodec whose programs read and write PNG files.

    The raw image (unsigned, 8 or 16 bits, 1 to 4 components) becomes a PNG in the row's
    temporary folder before compression, and the program's PNG output becomes raw again
    after decompression. The parameters see the PNG paths.
    """

    def compress(self, original_path: str, compressed_path: str, original_file_info=None):
        image = isets.load_array_bsq(original_path, image_properties_row=original_file_info)
        if image.dtype.kind != "u" or image.dtype.itemsize > 2:
            raise ValueError(f"{self.name}: only unsigned 8- and 16-bit samples fit in PNG, "
                             f"not {image.dtype}")
        png_path = os.path.join(scratch_dir(), f"{os.path.basename(original_path)}.png")
        try:
            write_png(image.astype(np.uint8 if image.dtype.itemsize == 1 else np.uint16),
                      png_path)
            results = super().compress(png_path, compressed_path, original_file_info)
        finally:
            if os.path.exists(png_path):
                os.remove(png_path)
        results.original_path = original_path
        return results

    def decompress(self, compressed_path: str, reconstructed_path: str,
                   original_file_info=None):
        png_path = os.path.join(scratch_dir(), f"{os.path.basename(reconstructed_path)}.png")
        try:
            results = super().decompress(compressed_path, png_path, original_file_info)
            image = read_png(png_path)
        finally:
            if os.path.exists(png_path):
                os.remove(png_path)
        dtype = isets.iproperties_row_to_numpy_dtype(original_file_info) \
            if original_file_info is not None else f">u{image.dtype.itemsize}"
        isets.dump_array_bsq(image, reconstructed_path, dtype=dtype)
        results.reconstructed_path = reconstructed_path
        return results


def __getattr__(name: str):
    # The curation tables are file version tables, loaded when asked for.
    if name in ("PNGCurationTable", "PDFToPNG", "pdf_to_png"):
        return getattr(importlib.import_module("enb.compression.curation"), name)
    raise AttributeError(f"module 'enb.compression.png' has no attribute {name!r}")
