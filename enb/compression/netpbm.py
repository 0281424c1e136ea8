"""Read and write binary Netpbm images (PGM ``P5``, PPM ``P6``, PAM ``P7``) with numpy.

Samples of 8 or 16 bits (16-bit samples are big-endian, as the format says). Arrays are
indexed ``[x, y, z]``, as everywhere in :mod:`enb.isets`. Many codec programs read and write
these formats (cjxl/djxl, opj_compress, dwebp), which makes them the exchange format of the
wrapper codecs: unlike PNG they need no compression, and 16-bit colour works.
"""
from __future__ import annotations

import os

import numpy as np

_MAGIC_TO_DEPTH = {b"P5": 1, b"P6": 3}


class NetpbmError(ValueError):
    """A file is not a binary Netpbm image this module reads; the message names it."""


def _tokens(buffer: bytes, start: int, count: int, path) -> tuple[list[int], int]:
    """Return ``count`` header integers from ``buffer[start:]`` and the offset after them."""
    values, position, size = [], start, len(buffer)
    while len(values) < count:
        while position < size and buffer[position:position + 1].isspace():
            position += 1
        if position < size and buffer[position:position + 1] == b"#":
            while position < size and buffer[position:position + 1] not in (b"\n", b"\r"):
                position += 1
            continue
        end = position
        while end < size and buffer[end:end + 1].isdigit():
            end += 1
        if end == position:
            raise NetpbmError(f"{path}: malformed Netpbm header at byte {position}")
        values.append(int(buffer[position:end]))
        position = end
    if position >= size or not buffer[position:position + 1].isspace():
        raise NetpbmError(f"{path}: malformed Netpbm header at byte {position}")
    return values, position + 1


def _pam_header(buffer: bytes, path) -> tuple[int, int, int, int, int]:
    end = buffer.find(b"ENDHDR\n")
    if end < 0:
        raise NetpbmError(f"{path}: PAM header without ENDHDR")
    fields = {}
    for line in buffer[3:end].splitlines():
        line = line.split(b"#", 1)[0].strip()
        if line:
            key, _, value = line.partition(b" ")
            fields[key.upper()] = value.strip()
    try:
        return (int(fields[b"WIDTH"]), int(fields[b"HEIGHT"]), int(fields[b"DEPTH"]),
                int(fields[b"MAXVAL"]), end + len(b"ENDHDR\n"))
    except (KeyError, ValueError) as ex:
        raise NetpbmError(f"{path}: PAM header lacks or garbles {ex}") from None


def read_netpbm(input_path) -> tuple[np.ndarray, int]:
    """Return (the image as an [x, y, z] array, its maxval) from a P5, P6 or P7 file."""
    with open(input_path, "rb") as handle:
        buffer = handle.read()
    magic = buffer[:2]
    if magic == b"P7":
        width, height, depth, maxval, offset = _pam_header(buffer, input_path)
    elif magic in _MAGIC_TO_DEPTH:
        (width, height, maxval), offset = _tokens(buffer, 2, 3, input_path)
        depth = _MAGIC_TO_DEPTH[magic]
    else:
        raise NetpbmError(f"{input_path}: not a binary PGM, PPM or PAM file (magic {magic!r})")
    if not 0 < maxval < 65536:
        raise NetpbmError(f"{input_path}: maxval {maxval} out of range (1-65535)")
    dtype = np.dtype("u1") if maxval < 256 else np.dtype(">u2")
    count = width * height * depth
    if len(buffer) - offset < count * dtype.itemsize:
        raise NetpbmError(f"{input_path}: truncated: {len(buffer) - offset} bytes of samples, "
                          f"{count * dtype.itemsize} expected for {width}x{height}x{depth}")
    samples = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    return samples.reshape(height, width, depth).transpose(1, 0, 2), maxval


def write_netpbm(array, output_path, maxval=None) -> None:
    """Write an [x, y] or [x, y, z] array of 1 (PGM), 3 (PPM) or 2 or 4 (PAM) components.

    ``maxval`` defaults to 255 or 65535, whichever holds every sample.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3:
        raise ValueError(f"Netpbm images are [x, y] or [x, y, z] arrays, not {array.shape}")
    if array.dtype.kind not in "ui" and not np.all(np.mod(array, 1) == 0):
        raise ValueError("only integer samples can be written as Netpbm")
    if array.size and array.min() < 0:
        raise ValueError(f"Netpbm samples cannot be negative (min is {array.min()})")
    peak = int(array.max()) if array.size else 0
    if maxval is None:
        maxval = 255 if peak <= 255 else 65535
    if peak > maxval or maxval > 65535:
        raise ValueError(f"a sample ({peak}) exceeds maxval {maxval} (at most 65535)")
    width, height, depth = array.shape
    if depth == 1:
        header = f"P5\n{width} {height}\n{maxval}\n"
    elif depth == 3:
        header = f"P6\n{width} {height}\n{maxval}\n"
    elif depth in (2, 4):
        kind = "GRAYSCALE_ALPHA" if depth == 2 else "RGB_ALPHA"
        header = (f"P7\nWIDTH {width}\nHEIGHT {height}\nDEPTH {depth}\nMAXVAL {maxval}\n"
                  f"TUPLTYPE {kind}\nENDHDR\n")
    else:
        raise ValueError(f"Netpbm holds 1 to 4 components, not {depth}")
    dtype = "u1" if maxval < 256 else ">u2"
    folder = os.path.dirname(os.fspath(output_path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(output_path, "wb") as handle:
        handle.write(header.encode("ascii"))
        handle.write(np.ascontiguousarray(array.transpose(1, 0, 2), dtype=dtype).tobytes())
